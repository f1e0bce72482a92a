#include "self-map.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int self_map_parse_line(const char *line, uint64_t *start, uint64_t *end, uint64_t *offset)
{
	char perms[8];
	int n = 0;

	/* "start-end perms offset dev inode path" */
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 "%n", start, end, perms, offset,
		   &n) != 4 || n == 0 || *end <= *start)
		return -EINVAL;
	return 0;
}

int self_map_open(uint64_t addr, uint64_t len, int *ret_fd, uint64_t *ret_offset,
		  struct cerr *e)
{
	FILE *f = fopen("/proc/self/maps", "re");
	uint64_t start = 0, end = 0, offset = 0;
	char line[4096 + 128], path[64];
	bool found = false;
	int fd, err;

	if (!f)
		return cerr_set(e, errno, "cannot read /proc/self/maps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (self_map_parse_line(line, &start, &end, &offset) < 0)
			continue;
		if (addr >= start && addr < end) {
			found = true;
			break;
		}
	}
	fclose(f);
	if (!found)
		return cerr_set(e, ENOENT, "no mapping of this process holds address 0x%" PRIx64, addr);
	/* the kernel maps whole pages: the end is the page after the last byte */
	if (len > end - addr)
		return cerr_set(e, ERANGE,
				"0x%" PRIx64 "+0x%" PRIx64 " runs past its mapping (0x%" PRIx64 "-0x%" PRIx64 ")",
				addr, len, start, end);
	snprintf(path, sizeof(path), "/proc/self/map_files/%" PRIx64 "-%" PRIx64, start, end);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		return cerr_set(e, err, "cannot re-open the mapping at 0x%" PRIx64 " through %s: %s%s",
				addr, path, strerror(err),
				err == EPERM ? " (needs CAP_SYS_ADMIN)" : "");
	}
	*ret_fd = fd;
	*ret_offset = offset + (addr - start);
	return 0;
}
