/* Config space and MSI-X table of the emulated VF (see emu-pci.h). */
#include "emu-pci.h"
#include "emu-bytes.h"

#include <string.h>

#include "ifcvf-regs.h"

#define PCI_CLASS_NETWORK_ETHERNET 0x0200u
#define PCI_CLASS_STORAGE_SCSI 0x0100u
#define PCI_BAR_MEM_TYPE_64 0x4u
#define PCI_COMMAND_INTX_DISABLE 0x0400u
#define MSIX_CTRL_WRITABLE (PCI_MSIX_FLAGS_ENABLE | 0x4000u)  /* enable, function mask */
#define MSIX_VECTOR_MASKED 0x1u

static void put8(uint8_t *a, uint32_t off, uint8_t v)
{
	a[off] = v;
}

static void build_ids(struct emu_pci *p, const struct emu_config *cfg)
{
	const struct emu_faults *f = &cfg->faults;
	bool net = cfg->type == EMU_TYPE_NET;
	uint16_t device = net ? IFCVF_NET_MODERN_DEVICE_ID : IFCVF_BLK_MODERN_DEVICE_ID;
	uint16_t subsys_vendor = IFCVF_SUBSYS_VENDOR_ID;
	uint16_t subsys = net ? IFCVF_SUBSYS_DEVICE_ID : IFCVF_SUBSYS_BLK_DEVICE_ID;
	uint16_t class = net ? PCI_CLASS_NETWORK_ETHERNET : PCI_CLASS_STORAGE_SCSI;

	if (f->wrong_device)
		device = 0x1043;   /* modern virtio console */
	if (f->wrong_subsystem) {
		/* what QEMU's virtio-pci devices carry */
		subsys_vendor = IFCVF_VENDOR_ID;
		subsys = net ? VIRTIO_ID_NET : VIRTIO_ID_BLOCK;
	}
	emu_put16(p->cfg, PCI_CFG_VENDOR_ID, f->wrong_vendor ? 0x8086 : IFCVF_VENDOR_ID);
	emu_put16(p->cfg, PCI_CFG_DEVICE_ID, device);
	emu_put16(p->cfg, PCI_CFG_STATUS, PCI_STATUS_CAP_LIST);
	put8(p->cfg, PCI_CFG_REVISION, 1);
	put8(p->cfg, PCI_CFG_CLASS_PROG, 0);
	emu_put16(p->cfg, PCI_CFG_CLASS_PROG + 1, class);
	put8(p->cfg, PCI_CFG_HEADER_TYPE, 0);
	emu_put16(p->cfg, PCI_CFG_SUBSYS_VENDOR_ID, subsys_vendor);
	emu_put16(p->cfg, PCI_CFG_SUBSYS_ID, subsys);
	put8(p->cfg, PCI_CFG_INT_PIN, 0);   /* no INTx: the IRQ info says count 0 */

	emu_put16(p->wmask, PCI_CFG_COMMAND,
	      PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	put8(p->wmask, 0x0c, 0xff);   /* cache line size */
	put8(p->wmask, 0x3c, 0xff);   /* interrupt line */
}

/* Memory BARs: the address bits above the size are writable, the type bits
 * are not; a 64-bit BAR's upper dword is all writable (every BAR < 4 GiB). */
static void build_bars(struct emu_pci *p)
{
	for (unsigned i = 0; i < EMU_NUM_BARS; i++) {
		const struct emu_bar *b = &p->layout->bar[i];
		uint32_t reg = PCI_CFG_BAR0 + 4 * i;

		if (!b->size)
			continue;
		emu_put32(p->cfg, reg, b->is64 ? PCI_BAR_MEM_TYPE_64 : 0);
		emu_put32(p->wmask, reg, (uint32_t)~(b->size - 1) & ~0xfu);
		if (b->is64 && i + 1 < EMU_NUM_BARS)
			emu_put32(p->wmask, reg + 4, 0xffffffffu);
	}
}

static void build_vendor_cap(struct emu_pci *p, uint32_t pos, uint8_t type, uint32_t offset,
			     uint32_t length)
{
	put8(p->cfg, pos + VIRTIO_PCI_CAP_VNDR, PCI_CAP_ID_VNDR);
	put8(p->cfg, pos + VIRTIO_PCI_CAP_LEN,
	     type == VIRTIO_PCI_CAP_NOTIFY_CFG ? VIRTIO_PCI_NOTIFY_CAP_SIZE : VIRTIO_PCI_CAP_SIZE);
	put8(p->cfg, pos + VIRTIO_PCI_CAP_CFG_TYPE, type);
	put8(p->cfg, pos + VIRTIO_PCI_CAP_BAR, (uint8_t)p->layout->cap_bar);
	emu_put32(p->cfg, pos + VIRTIO_PCI_CAP_OFFSET, offset);
	emu_put32(p->cfg, pos + VIRTIO_PCI_CAP_LENGTH, length);
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
		emu_put32(p->cfg, pos + VIRTIO_PCI_NOTIFY_CAP_MULT, p->layout->notify_mult);
}

static void build_caps(struct emu_pci *p, const struct emu_faults *f)
{
	const struct emu_layout *l = p->layout;
	uint32_t device_len = l->device_cap_len;
	uint32_t chain[5];
	unsigned n = 0;

	emu_put16(p->cfg, EMU_CAP_MSIX_POS + PCI_MSIX_FLAGS, (uint16_t)(l->msix_entries - 1));
	put8(p->cfg, EMU_CAP_MSIX_POS, PCI_CAP_ID_MSIX);
	emu_put32(p->cfg, EMU_CAP_MSIX_POS + PCI_MSIX_TABLE, EMU_MSIX_TABLE_OFF | l->msix_bar);
	emu_put32(p->cfg, EMU_CAP_MSIX_POS + PCI_MSIX_PBA, EMU_MSIX_PBA_OFF | l->msix_bar);
	emu_put16(p->wmask, EMU_CAP_MSIX_POS + PCI_MSIX_FLAGS, MSIX_CTRL_WRITABLE);
	chain[n++] = EMU_CAP_MSIX_POS;

	if (f->cap_outside_bar)
		device_len = (uint32_t)l->bar[l->virtio_bar].size;
	build_vendor_cap(p, EMU_CAP_COMMON_POS, VIRTIO_PCI_CAP_COMMON_CFG, EMU_COMMON_OFF,
			 VIRTIO_COMMON_CFG_SIZE);
	build_vendor_cap(p, EMU_CAP_NOTIFY_POS, VIRTIO_PCI_CAP_NOTIFY_CFG, EMU_NOTIFY_OFF,
			 l->notify_len);
	build_vendor_cap(p, EMU_CAP_ISR_POS, VIRTIO_PCI_CAP_ISR_CFG, EMU_ISR_OFF, EMU_ISR_LEN);
	build_vendor_cap(p, EMU_CAP_DEVICE_POS, VIRTIO_PCI_CAP_DEVICE_CFG, EMU_DEVICE_OFF,
			 device_len);
	if (!(f->missing_caps & (1u << VIRTIO_PCI_CAP_COMMON_CFG)))
		chain[n++] = EMU_CAP_COMMON_POS;
	if (!(f->missing_caps & (1u << VIRTIO_PCI_CAP_NOTIFY_CFG)))
		chain[n++] = EMU_CAP_NOTIFY_POS;
	if (!(f->missing_caps & (1u << VIRTIO_PCI_CAP_ISR_CFG)))
		chain[n++] = EMU_CAP_ISR_POS;
	if (!(f->missing_caps & (1u << VIRTIO_PCI_CAP_DEVICE_CFG)))
		chain[n++] = EMU_CAP_DEVICE_POS;

	/* an omitted cap keeps its bytes but is not linked, as if absent */
	put8(p->cfg, PCI_CFG_CAP_PTR, (uint8_t)chain[0]);
	for (unsigned i = 0; i < n; i++)
		put8(p->cfg, chain[i] + 1, i + 1 < n ? (uint8_t)chain[i + 1] : 0);
	if (f->cap_loop)
		put8(p->cfg, chain[n - 1] + 1, (uint8_t)chain[0]);
}

void emu_pci_init(struct emu_pci *p, const struct emu_config *cfg,
		  const struct emu_layout *layout)
{
	memset(p, 0, sizeof(*p));
	p->layout = layout;
	build_ids(p, cfg);
	build_bars(p);
	build_caps(p, &cfg->faults);
	/* vectors come out of reset masked (PCI spec) */
	for (unsigned i = 0; i < layout->msix_entries; i++)
		emu_put32(p->msix_table, i * EMU_MSIX_ENTRY_SIZE + 12, MSIX_VECTOR_MASKED);
}

void emu_pci_cfg_read(const struct emu_pci *p, uint32_t off, void *buf, size_t len)
{
	memcpy(buf, p->cfg + off, len);
}

void emu_pci_cfg_write(struct emu_pci *p, uint32_t off, const void *buf, size_t len)
{
	const uint8_t *in = buf;

	for (size_t i = 0; i < len; i++) {
		uint8_t m = p->wmask[off + i];

		p->cfg[off + i] = (uint8_t)((p->cfg[off + i] & ~m) | (in[i] & m));
	}
}

void emu_pci_msix_read(const struct emu_pci *p, uint64_t off, void *buf, size_t len)
{
	uint64_t table_len = (uint64_t)p->layout->msix_entries * EMU_MSIX_ENTRY_SIZE;
	uint8_t *out = buf;

	for (size_t i = 0; i < len; i++) {
		uint64_t o = off + i;

		if (o - EMU_MSIX_TABLE_OFF < table_len)
			out[i] = p->msix_table[o - EMU_MSIX_TABLE_OFF];
		else
			out[i] = 0;   /* PBA: nothing is ever pending, gaps read 0 */
	}
}

void emu_pci_msix_write(struct emu_pci *p, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *in = buf;
	uint64_t table_len = (uint64_t)p->layout->msix_entries * EMU_MSIX_ENTRY_SIZE;

	for (size_t i = 0; i < len; i++) {
		uint64_t o = off + i;

		/* past the table (and the PBA) writes are dropped, as PCI says */
		if (o - EMU_MSIX_TABLE_OFF < table_len)
			p->msix_table[o - EMU_MSIX_TABLE_OFF] = in[i];
	}
}
