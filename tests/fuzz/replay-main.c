/* A fuzz target as an ordinary test: feeds every file of the directories
 * named on the command line (a target's seed corpus and its saved
 * regression inputs) to LLVMFuzzerTestOneInput, in name order, and prints
 * one TAP line per input. A crash, a sanitizer report or a hang fails the
 * test, as libFuzzer would; the plain and sanitizer builds run it. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the whole file in a buffer of exactly its size, so ASan sees overreads */
static uint8_t *read_input(const char *path, size_t *ret_size)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) < 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (buf && st.st_size && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*ret_size = (size_t)st.st_size;
	return buf;
}

int main(int argc, char **argv)
{
	char **paths = NULL;
	size_t n = 0, cap = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *de;

		if (!d) {
			if (errno == ENOENT)  /* a target without saved regressions yet */
				continue;
			printf("Bail out! cannot open %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				paths = realloc(paths, cap * sizeof(*paths));
				if (!paths)
					abort();
			}
			if (asprintf(&paths[n++], "%s/%s", argv[i], de->d_name) < 0)
				abort();
		}
		closedir(d);
	}
	if (n == 0) {
		printf("Bail out! no input in any of the %d directories given\n", argc - 1);
		return 1;
	}
	qsort(paths, n, sizeof(*paths), by_name);
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		size_t size = 0;
		uint8_t *data = read_input(paths[i], &size);

		if (!data) {
			printf("not ok %zu - %s: cannot read: %s\n", i + 1, paths[i], strerror(errno));
			continue;
		}
		fflush(stdout);
		LLVMFuzzerTestOneInput(data, size);
		printf("ok %zu - %s (%zu bytes)\n", i + 1, paths[i], size);
		free(data);
		free(paths[i]);
	}
	free(paths);
	return 0;
}
