/* tests/test.h — a tiny test harness for ctest.
 *
 *     TEST(parses_header) { CHECK(x == 1); CHECK_NEAR(a, b, 1e-5); }
 *     int main(void) { RUN(parses_header); return test_summary(); }
 *
 * CHECK failures are counted and reported with file:line; a test keeps going
 * after a failed CHECK. test_summary() prints "N passed, M failed" and returns
 * the process exit code. test_shared_opt() returns the ../shared path, or NULL
 * when it is absent: tests run on committed data (tests/data, samples/,
 * models/demo/) and add cross-checks on ../shared's fixtures when present.
 */
#ifndef SEER_TEST_H
#define SEER_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int test_failed_checks, test_passed, test_failed, test_cur_failed;

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                               \
    do {                                                                        \
        test_cur_failed = 0;                                                    \
        test_##name();                                                          \
        if (test_cur_failed) { test_failed++; printf("FAIL %s\n", #name); }     \
        else { test_passed++; printf("ok   %s\n", #name); }                      \
        fflush(stdout);                                                         \
    } while (0)

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            test_failed_checks++; test_cur_failed = 1;                          \
            printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
        }                                                                       \
    } while (0)

#define CHECK_MSG(cond, ...)                                                    \
    do {                                                                        \
        if (!(cond)) {                                                          \
            test_failed_checks++; test_cur_failed = 1;                          \
            printf("  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);   \
            printf(__VA_ARGS__); printf("\n");                                  \
        }                                                                       \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                   \
    do {                                                                        \
        double a_ = (double)(a), b_ = (double)(b);                              \
        if (!(fabs(a_ - b_) <= (tol))) {                                        \
            test_failed_checks++; test_cur_failed = 1;                          \
            printf("  %s:%d: %s = %.9g, %s = %.9g, |diff| %.3g > %.3g\n",       \
                   __FILE__, __LINE__, #a, a_, #b, b_, fabs(a_ - b_), (double)(tol)); \
        }                                                                       \
    } while (0)

static inline int test_summary(void) {
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

/* The shared/ folder (fixtures, data), or NULL (with a note) when absent. */
static inline const char *test_shared_opt(void) {
    const char *s = getenv("SEER_SHARED");
    struct stat sb;
    if (!s || stat(s, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        printf("note: ../shared is absent%s%s; its cross-checks are not run\n", s ? ": " : "", s ? s : "");
        return NULL;
    }
    return s;
}

/* The source tree root (for committed test data). */
static inline const char *test_source(void) {
    const char *s = getenv("SEER_SOURCE");
    return s ? s : ".";
}

#endif
