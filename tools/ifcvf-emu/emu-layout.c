/* Compute the BAR map of the emulated VF (see emu-layout.h for the result). */
#include "emu-layout.h"

#include <errno.h>
#include <string.h>

static uint64_t pow2_at_least(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

int emu_layout_compute(const struct emu_config *cfg, struct emu_layout *l, struct cerr *e)
{
	const struct emu_faults *f = &cfg->faults;
	unsigned vbar = 0;

	memset(l, 0, sizeof(*l));
	l->type = cfg->type;
	l->nvq = emu_config_vrings(cfg);
	if (l->nvq == 0 || l->nvq > EMU_MAX_VRINGS)
		return cerr_set(e, EINVAL, "%u virtqueues is outside 1..%u", l->nvq,
				EMU_MAX_VRINGS);
	l->msix_entries = l->nvq + 1;
	l->notify_mult = f->notify_mult_set ? f->notify_mult : EMU_NOTIFY_MULT;
	l->notify_len = l->nvq * l->notify_mult;
	l->device_cap_len = cfg->type == EMU_TYPE_NET ? EMU_NET_DEVICE_LEN : EMU_BLK_DEVICE_LEN;

	/* cap-bar=N with a real BAR slot moves the virtio structures there; a
	 * number past 5 is only a claim in the caps, for the probe's bar check */
	if (f->cap_bar_set && f->cap_bar < EMU_NUM_BARS)
		vbar = f->cap_bar;
	l->virtio_bar = vbar;
	l->cap_bar = f->cap_bar_set ? f->cap_bar : vbar;
	l->msix_bar = 1;
	l->lm_bar = -1;

	/* BAR4 is 64-bit whatever it holds, so both BAR widths get exercised */
	l->bar[4].is64 = true;
	l->bar[vbar].kind = EMU_BAR_VIRTIO;
	l->bar[vbar].size = pow2_at_least(EMU_NOTIFY_OFF + l->notify_len);
	l->bar[1].kind = EMU_BAR_MSIX;
	l->bar[1].size = EMU_MSIX_BAR_SIZE;
	if (!cfg->no_lm && vbar != 4) {
		l->bar[4].kind = EMU_BAR_LM;
		l->bar[4].size = EMU_LM_BAR_SIZE;
		l->lm_bar = 4;
	}
	return 0;
}

int emu_layout_bar_of(const struct emu_layout *l, enum emu_bar_kind kind)
{
	for (unsigned i = 0; i < EMU_NUM_BARS; i++)
		if (l->bar[i].kind == kind && l->bar[i].size)
			return (int)i;
	return -1;
}
