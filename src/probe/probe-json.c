#include "probe-json.h"

static void add_hex(JsonBuilder *b, const char *name, guint64 value, guint digits)
{
	g_autofree char *s = g_strdup_printf("0x%0*" G_GINT64_MODIFIER "x", digits, value);

	json_builder_set_member_name(b, name);
	json_builder_add_string_value(b, s);
}

static void add_int(JsonBuilder *b, const char *name, gint64 value)
{
	json_builder_set_member_name(b, name);
	json_builder_add_int_value(b, value);
}

static void add_cap(JsonBuilder *b, const char *name, const struct ifcvf_cap_loc *loc)
{
	json_builder_set_member_name(b, name);
	json_builder_begin_object(b);
	add_int(b, "bar", loc->bar);
	add_hex(b, "offset", loc->offset, 1);
	add_hex(b, "length", loc->length, 1);
	add_hex(b, "config_offset", loc->pos, 2);
	json_builder_end_object(b);
}

static void add_features(JsonBuilder *b, const struct ifcvf_hw *hw)
{
	json_builder_set_member_name(b, "features");
	json_builder_begin_object(b);
	add_hex(b, "hex", hw->features, 16);
	json_builder_set_member_name(b, "names");
	json_builder_begin_array(b);
	for (unsigned bit = 0; bit < 64; bit++) {
		const char *name;
		g_autofree char *unknown = NULL;

		if (!(hw->features & (1ull << bit)))
			continue;
		name = ifcvf_feature_name(hw->type, bit);
		if (!name)
			name = unknown = g_strdup_printf("BIT_%u", bit);
		json_builder_add_string_value(b, name);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
}

static void add_device_config(JsonBuilder *b, const struct ifcvf_hw *hw)
{
	if (hw->type == IFCVF_DEV_NET) {
		g_autofree char *mac = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x",
						       hw->mac[0], hw->mac[1], hw->mac[2],
						       hw->mac[3], hw->mac[4], hw->mac[5]);
		json_builder_set_member_name(b, "mac");
		json_builder_add_string_value(b, mac);
		return;
	}
	json_builder_set_member_name(b, "blk");
	json_builder_begin_object(b);
	add_int(b, "capacity_sectors", (gint64)hw->blk.capacity);
	add_int(b, "capacity_bytes", (gint64)(hw->blk.capacity * 512));
	add_int(b, "size_max", hw->blk.size_max);
	add_int(b, "seg_max", hw->blk.seg_max);
	add_int(b, "blk_size", hw->blk.blk_size);
	add_int(b, "num_queues", hw->blk.num_queues);
	json_builder_set_member_name(b, "geometry");
	json_builder_begin_object(b);
	add_int(b, "cylinders", hw->blk.cylinders);
	add_int(b, "heads", hw->blk.heads);
	add_int(b, "sectors", hw->blk.sectors);
	json_builder_end_object(b);
	json_builder_end_object(b);
}

JsonNode *ifcvf_probe_to_json(const char *address, const struct ifcvf_hw *hw)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "device");
	json_builder_add_string_value(b, address);

	json_builder_set_member_name(b, "ids");
	json_builder_begin_object(b);
	add_hex(b, "vendor", hw->ids.vendor, 4);
	add_hex(b, "device", hw->ids.device, 4);
	add_hex(b, "subsystem_vendor", hw->ids.subsys_vendor, 4);
	add_hex(b, "subsystem_device", hw->ids.subsys_device, 4);
	json_builder_end_object(b);

	json_builder_set_member_name(b, "type");
	json_builder_add_string_value(b, ifcvf_dev_type_name(hw->type));
	json_builder_set_member_name(b, "ifcvf");
	json_builder_add_boolean_value(b, hw->is_ifcvf);

	json_builder_set_member_name(b, "capabilities");
	json_builder_begin_object(b);
	add_cap(b, "common", &hw->caps.common);
	add_cap(b, "notify", &hw->caps.notify);
	add_cap(b, "isr", &hw->caps.isr);
	add_cap(b, "device", &hw->caps.device);
	json_builder_end_object(b);
	add_int(b, "notify_off_multiplier", hw->caps.notify_off_multiplier);

	add_features(b, hw);
	add_int(b, "num_queues", hw->num_queues);
	if (hw->type == IFCVF_DEV_NET)
		add_int(b, "queue_pairs", hw->max_queues);
	else
		add_int(b, "queues", hw->max_queues);
	add_int(b, "max_vrings", ifcvf_hw_max_vrings(hw));
	add_int(b, "msix_vectors", hw->msix_vectors);

	json_builder_set_member_name(b, "live_migration");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "lm_block");
	json_builder_add_boolean_value(b, hw->lm_block);
	json_builder_set_member_name(b, "mode");
	json_builder_add_string_value(b, hw->sw_live_migration ? "sw" : "hw");
	json_builder_end_object(b);

	add_device_config(b, hw);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}
