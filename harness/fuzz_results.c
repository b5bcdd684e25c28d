/* libFuzzer target for the readers of untrusted files: results JSON (compare, report, show) and
 * performance_budgets.yml. meson setup -Dfuzz=true with CC=clang; run build/harness/fuzz-results. */
#include "harness.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-results", 0);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        if (fd >= 0) {
            close(fd);
        }
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct ms_error err;
    struct ms_run *run = NULL;
    if (ms_json_read(path, &run, &err) == 0) {
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            ms_report_write(null, run, NULL, &err);
            struct ms_options o;
            ms_options_defaults(&o);
            struct ms_result **rows = calloc(run->count + 1, sizeof *rows);
            for (size_t i = 0; rows && i < run->count; i++) {
                rows[i] = &run->results[i];
            }
            if (rows) {
                ms_table_print(null, rows, run->count, &o);
            }
            struct ms_gate g;
            if (ms_gate_parse("mean:10%", &g, &err) == 0) {
                ms_compare_print(null, run, run, &g, 1, 0.01);
            }
            free(rows);
            fclose(null);
        }
        ms_result_run_free(run);
    }
    struct ms_budgets *b = NULL;
    if (ms_budgets_load(path, &b, &err) == 0) {
        double v;
        for (size_t s = 0; s < ms_budgets_section_count(b); s++) {
            for (size_t k = 0; k < ms_budgets_key_count(b, s); k++) {
                ms_budgets_get(b, ms_budgets_section_name(b, s), ms_budgets_key_name(b, s, k), &v, &err);
            }
        }
        ms_budgets_free(b);
    }
    close(fd);
    return 0;
}
