/* JSON output: D-Bus values and property dictionaries as JSON, with
 * snake_case keys ("NegotiatedFeatures" → "negotiated_features"). */
#define G_LOG_DOMAIN "ifcvfctl"

#include <stdio.h>

#include "ctl.h"

char *ctl_json_key(const char *property)
{
	GString *s = g_string_new(NULL);

	for (const char *p = property; *p; p++) {
		if (g_ascii_isupper(*p) && p != property)
			g_string_append_c(s, '_');
		g_string_append_c(s, g_ascii_tolower(*p));
	}
	return g_string_free(s, FALSE);
}

JsonNode *ctl_json_from_variant(GVariant *value)
{
	JsonNode *node = json_node_alloc();

	if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING) ||
	    g_variant_is_of_type(value, G_VARIANT_TYPE_OBJECT_PATH)) {
		json_node_init_string(node, g_variant_get_string(value, NULL));
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN)) {
		json_node_init_boolean(node, g_variant_get_boolean(value));
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32)) {
		json_node_init_int(node, g_variant_get_uint32(value));
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT64)) {
		/* JSON readers keep integers in 64-bit signed; no feature or
		 * counter reaches 2^63 */
		json_node_init_int(node, (gint64)g_variant_get_uint64(value));
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_VARIANT)) {
		g_autoptr(GVariant) inner = g_variant_get_variant(value);

		json_node_free(node);
		return ctl_json_from_variant(inner);
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_ARRAY)) {
		JsonArray *array = json_array_new();
		GVariantIter iter;
		GVariant *child;

		g_variant_iter_init(&iter, value);
		while ((child = g_variant_iter_next_value(&iter))) {
			json_array_add_element(array, ctl_json_from_variant(child));
			g_variant_unref(child);
		}
		json_node_init_array(node, array);
		json_array_unref(array);
	} else {
		/* not in this API today; shown rather than dropped */
		g_autofree char *text = g_variant_print(value, TRUE);

		json_node_init_string(node, text);
	}
	return node;
}

JsonNode *ctl_json_from_props(GVariant *props)
{
	JsonObject *obj = json_object_new();
	JsonNode *node = json_node_alloc();
	GVariantIter iter;
	const char *name;
	GVariant *value;

	g_variant_iter_init(&iter, props);
	while (g_variant_iter_next(&iter, "{&sv}", &name, &value)) {
		g_autofree char *key = ctl_json_key(name);

		json_object_set_member(obj, key, ctl_json_from_variant(value));
		g_variant_unref(value);
	}
	json_node_init_object(node, obj);
	json_object_unref(obj);
	return node;
}

void ctl_json_print(JsonNode *node, gboolean pretty)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree char *text = NULL;

	json_generator_set_root(gen, node);
	json_generator_set_pretty(gen, pretty);
	text = json_generator_to_data(gen, NULL);
	printf("%s\n", text);
	fflush(stdout);
}
