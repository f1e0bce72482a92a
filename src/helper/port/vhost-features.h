/* What a port offers on its vhost-user socket (reference §4) and what it
 * writes to the VF, from an allow-list per device kind (IFCVF or plain
 * virtio function, net or blk): only the bits the helper carries end to
 * end, whatever else the VF offers. The frontend gets the allowed bits the
 * VF offers plus the bits QEMU emulates for the VF (net: STATUS, CTRL_VQ,
 * GUEST_ANNOUNCE) and the vhost-user bits (LOG_ALL, PROTOCOL_FEATURES);
 * the VF gets the allowed bits the frontend chose, plus IOMMU_PLATFORM
 * when it offers that. Pure functions, no DPDK.
 *
 * Threads: no state. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ifcvf-ids.h"

/* vhost-user protocol feature bits (vhost-user specification) */
#define VHOST_USER_PF_MQ 0
#define VHOST_USER_PF_LOG_SHMFD 1
#define VHOST_USER_PF_REPLY_ACK 3
#define VHOST_USER_PF_BACKEND_REQ 5
#define VHOST_USER_PF_BACKEND_SEND_FD 10
#define VHOST_USER_PF_HOST_NOTIFIER 11
#define VHOST_USER_PF_CONFIG 9
#define VHOST_USER_PF_STATUS 16

/* The device feature bits the helper supports for this kind of function.
 * @queues: what the port offers (queue pairs for net, queues for blk);
 * with one, the multiqueue feature is not allowed. */
uint64_t ifcvf_vhost_vf_allowed(enum ifcvf_dev_type type, bool is_ifcvf, unsigned queues);
uint64_t ifcvf_vhost_offered_features(enum ifcvf_dev_type type, bool is_ifcvf,
				      uint64_t vf_features, unsigned queues);
uint64_t ifcvf_vhost_protocol_features(enum ifcvf_dev_type type, bool is_ifcvf);
/* Can a port of this kind live-migrate? Not a plain virtio blk function:
 * without a per-queue stop, the reset a migration's stop takes drops its
 * requests in flight. Such a port offers neither VHOST_F_LOG_ALL nor
 * LOG_SHMFD, so QEMU refuses to migrate the VM (a migration blocker that
 * names the missing log support) instead of losing or repeating a write. */
bool ifcvf_vhost_migratable(enum ifcvf_dev_type type, bool is_ifcvf);
/* what goes to the VF once the frontend chose @negotiated */
uint64_t ifcvf_vhost_vf_features(enum ifcvf_dev_type type, bool is_ifcvf, unsigned queues,
				 uint64_t negotiated, uint64_t vf_features);
