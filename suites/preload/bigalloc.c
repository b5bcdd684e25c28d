/* An allocator under the preload (LD_PRELOAD=libmemsnap.so:libmsbigalloc.so) that grants blocks over
 * 1 TiB, which no real machine here can: each is one inaccessible page. Everything else goes to glibc. */
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *p);

void *malloc(size_t size);
void free(void *p);

#define BIGALLOC_SLOTS 8
static void *bigalloc_blocks[BIGALLOC_SLOTS];

void *malloc(size_t size)
{
    if (size <= (UINT64_C(1) << 40)) {
        return __libc_malloc(size);
    }
    for (int i = 0; i < BIGALLOC_SLOTS; i++) {
        if (!bigalloc_blocks[i]) {
            void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) {
                return NULL;
            }
            bigalloc_blocks[i] = p;
            return p;
        }
    }
    return NULL;
}

void free(void *p)
{
    for (int i = 0; p && i < BIGALLOC_SLOTS; i++) {
        if (bigalloc_blocks[i] == p) {
            bigalloc_blocks[i] = NULL;
            munmap(p, 4096);
            return;
        }
    }
    __libc_free(p);
}
