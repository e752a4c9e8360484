/*
 * testlib.h - a tiny TAP test harness for the C tests.
 *
 * Each TEST_RUN prints "ok N - name" or "not ok N - name" with the failed
 * expectations as "#" lines; tests/run.sh counts those lines. A test
 * program exits non-zero when any case failed.
 */
#ifndef OOBLEX_TESTLIB_H
#define OOBLEX_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tl_case_failed, tl_cases, tl_failures;

#define EXPECT(cond) do { \
	if(!(cond)) { \
		tl_case_failed = 1; \
		printf("#   %s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
	} \
} while(0)

#define EXPECT_EQ(a, b) do { \
	long long tl_a = (long long)(a), tl_b = (long long)(b); \
	if(tl_a != tl_b) { \
		tl_case_failed = 1; \
		printf("#   %s:%d: expected %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #b, tl_a, tl_b); \
	} \
} while(0)

/* Stops the current case (the rest would only crash on what failed). */
#define REQUIRE(cond) do { \
	if(!(cond)) { \
		tl_case_failed = 1; \
		printf("#   %s:%d: required %s\n", __FILE__, __LINE__, #cond); \
		return; \
	} \
} while(0)

#define TEST_RUN(fn) tl_run(#fn, fn)

/* TL_ONLY=part runs only the cases whose names contain it (the others are
 * not counted), to try one case against a change. */
static inline void tl_run(const char *name, void (*fn)(void)) {
	const char *only = getenv("TL_ONLY");
	if(only != NULL && *only && strstr(name, only) == NULL)
		return;
	tl_case_failed = 0;
	fn();
	tl_cases++;
	if(tl_case_failed)
		tl_failures++;
	printf("%s %d - %s\n", tl_case_failed ? "not ok" : "ok", tl_cases, name);
	fflush(stdout);
}

static inline int tl_done(void) {
	printf("1..%d\n", tl_cases);
	return tl_failures ? 1 : 0;
}

#endif
