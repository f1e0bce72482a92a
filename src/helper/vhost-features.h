/* What a port offers on its vhost-user socket (reference §4): the VF's
 * features without IOMMU_PLATFORM plus the bits QEMU emulates for the VF
 * (net: STATUS, CTRL_VQ, GUEST_ANNOUNCE) and the vhost-user bits (LOG_ALL,
 * PROTOCOL_FEATURES); the protocol features; and the features written to
 * the VF once the frontend has chosen. Pure functions, no DPDK.
 *
 * Threads: no state. */
#pragma once

#include <stdint.h>

#include "ifcvf-ids.h"

/* vhost-user protocol feature bits (vhost-user specification) */
#define VHOST_USER_PF_MQ 0
#define VHOST_USER_PF_LOG_SHMFD 1
#define VHOST_USER_PF_REPLY_ACK 3
#define VHOST_USER_PF_BACKEND_REQ 5
#define VHOST_USER_PF_CONFIG 9
#define VHOST_USER_PF_STATUS 16

/* @queues: what the port offers (queue pairs for net, queues for blk);
 * with one, the multiqueue feature is not offered. */
uint64_t ifcvf_vhost_offered_features(enum ifcvf_dev_type type, uint64_t vf_features,
				      unsigned queues);
uint64_t ifcvf_vhost_protocol_features(enum ifcvf_dev_type type);
/* the negotiated features the VF itself offers, plus IOMMU_PLATFORM when
 * it offers that (the helper always programs it with IOVAs) */
uint64_t ifcvf_vhost_vf_features(uint64_t negotiated, uint64_t vf_features);
