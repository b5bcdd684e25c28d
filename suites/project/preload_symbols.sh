#!/usr/bin/env bash
# libmemsnap.so exports nothing but the allocation functions, the API table and the two exits it must
# catch for the at-exit snapshot (plus dlclose, to drop unwind rules of unloaded code), and imports no
# stdio, assert or other call that is unsafe inside an allocation hook. TAP.
#   preload_symbols.sh LIBMEMSNAP
set -u
lib=$1
command -v nm >/dev/null || { echo "nm not found (binutils)" >&2; exit 77; }
echo "1..2"
allowed='^(malloc|free|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|cfree|malloc_usable_size|memsnap_api_v1|_exit|_Exit|dlclose)$'
extra=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -Ev "$allowed")
if [ -z "$extra" ]; then
  echo "ok 1 - exports only the allocator, the API and the exits"
else
  echo "not ok 1 - unexpected exports"; printf '# %s\n' $extra
fi
forbidden='^(printf|fprintf|vfprintf|sprintf|snprintf|vsnprintf|puts|fputs|fwrite|fopen|fclose|fflush|__assert_fail|__printf_chk|__fprintf_chk|__snprintf_chk|__vsnprintf_chk|gettid|sigprocmask)(@.*)?$'
bad=$(nm -D --undefined-only "$lib" | awk '{print $2}' | grep -E "$forbidden")
if [ -z "$bad" ]; then
  echo "ok 2 - imports no stdio, assert, gettid or sigprocmask"
else
  echo "not ok 2 - hook-unsafe imports"; printf '# %s\n' $bad
fi
[ -z "$extra" ] && [ -z "$bad" ]
