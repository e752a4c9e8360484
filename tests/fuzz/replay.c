/*
 * replay.c - runs a fuzz target over files, without libFuzzer.
 *
 * Owns: the main() that tests/fuzz/run.sh links into every target's
 * standalone build (system cc, ASan + UBSan), so that the seed corpus and
 * any crash reproducer run where libFuzzer is not available, and under
 * another compiler's sanitizers. Like Janus' fuzzers/engines/standalone.c:
 * calls LLVMFuzzerInitialize if the target has one, then
 * LLVMFuzzerTestOneInput once per file; arguments are files or directories
 * (read one level deep, in name order so runs are repeatable). A crash is
 * the sanitizer's report and exit status; the file being run is printed
 * first so the report names it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target: weak, so it is NULL when the target has none. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int verbose;

static int run_file(const char *path) {
	FILE *f = fopen(path, "rb");
	if(f == NULL) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while(buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if(len == cap) {
			uint8_t *grown = realloc(buf, cap * 2);
			if(grown == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = grown;
			cap *= 2;
		}
	}
	int failed = ferror(f) || buf == NULL;
	fclose(f);
	if(failed) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		free(buf);
		return -1;
	}
	if(verbose)
		fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	/* An exact-size copy: ASan then catches a read one past the input. */
	uint8_t *input = malloc(len ? len : 1);
	if(input == NULL) {
		free(buf);
		return -1;
	}
	memcpy(input, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(input, len);
	free(input);
	return 0;
}

static int by_name(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file directly in dir. Returns files run, or -1. */
static long run_dir(const char *dir) {
	DIR *d = opendir(dir);
	if(d == NULL) {
		fprintf(stderr, "replay: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *e;
	while((e = readdir(d)) != NULL) {
		if(e->d_name[0] == '.')
			continue;
		if(count == cap) {
			cap = cap ? cap * 2 : 64;
			char **grown = realloc(names, cap * sizeof(*names));
			if(grown == NULL)
				break;
			names = grown;
		}
		size_t plen = strlen(dir) + 1 + strlen(e->d_name) + 1;
		names[count] = malloc(plen);
		if(names[count] == NULL)
			break;
		snprintf(names[count], plen, "%s/%s", dir, e->d_name);
		count++;
	}
	closedir(d);
	qsort(names, count, sizeof(*names), by_name);
	long ran = 0;
	for(size_t i = 0; i < count; i++) {
		struct stat st;
		if(stat(names[i], &st) == 0 && S_ISREG(st.st_mode) && run_file(names[i]) == 0)
			ran++;
		free(names[i]);
	}
	free(names);
	return ran;
}

int main(int argc, char **argv) {
	if(LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	int first = 1;
	if(argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = 1;
		first = 2;
	}
	if(first >= argc) {
		fprintf(stderr, "usage: %s [-v] FILE|DIR...\n", argv[0]);
		return 2;
	}
	long total = 0;
	int errors = 0;
	for(int i = first; i < argc; i++) {
		struct stat st;
		if(stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			errors++;
		} else if(S_ISDIR(st.st_mode)) {
			long n = run_dir(argv[i]);
			if(n < 0)
				errors++;
			else
				total += n;
		} else if(run_file(argv[i]) == 0) {
			total++;
		} else {
			errors++;
		}
	}
	printf("replay: %ld inputs run\n", total);
	return errors ? 1 : 0;
}
