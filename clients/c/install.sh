#!/bin/sh
# Builds libfdagent (cargo build --release) and installs it for C programs:
#   LIBDIR/libfdagent.so.0, LIBDIR/libfdagent.so -> libfdagent.so.0, LIBDIR/libfdagent.a,
#   PREFIX/include/fdagent.h, LIBDIR/pkgconfig/fdagent.pc
#
# usage: clients/c/install.sh [--prefix P] [--libdir L] [--destdir D] [--from DIR]
#   --prefix P   where it goes (default /usr/local)
#   --libdir L   the libraries' directory (default P/lib)
#   --destdir D  a staging root: files go to D/P/..., and the .pc still names P (packaging)
#   --from DIR   install the libraries already built in DIR (a cargo target/<profile>
#                directory, or its deps/), instead of building them
# After installing into a directory the dynamic linker does not search yet, run ldconfig
# (as root, for /usr/local/lib) or set LD_LIBRARY_PATH; see docs/c.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=/usr/local
libdir=
destdir=
from=
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --libdir) libdir=${2:?--libdir needs a directory}; shift 2 ;;
        --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
        --from) from=${2:?--from needs a directory}; shift 2 ;;
        -h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
done
case "$prefix" in
    /*) ;;
    *) echo "install.sh: --prefix must be absolute: $prefix" >&2; exit 64 ;;
esac
libdir=${libdir:-$prefix/lib}
case "$libdir" in
    /*) ;;
    *) echo "install.sh: --libdir must be absolute: $libdir" >&2; exit 64 ;;
esac

if [ -z "$from" ]; then
    cargo build --release --manifest-path "$here/Cargo.toml" -p fdagent-c
    target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    from=$target/release
fi
for f in libfdagent.so libfdagent.a; do
    if [ ! -f "$from/$f" ]; then
        echo "install.sh: $from/$f is missing (build with cargo build --release -p fdagent-c)" >&2
        exit 1
    fi
done

# Linking libfdagent.a also needs these system libraries (rustc --print native-static-libs).
native_static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../../Cargo.toml" | head -n 1)

install -d "$destdir$libdir/pkgconfig" "$destdir$prefix/include"
install -m 755 "$from/libfdagent.so" "$destdir$libdir/libfdagent.so.0"
ln -sf libfdagent.so.0 "$destdir$libdir/libfdagent.so"
install -m 644 "$from/libfdagent.a" "$destdir$libdir/libfdagent.a"
install -m 644 "$here/include/fdagent.h" "$destdir$prefix/include/fdagent.h"
cat >"$destdir$libdir/pkgconfig/fdagent.pc" <<PC
prefix=$prefix
libdir=$libdir
includedir=\${prefix}/include
# Static linking: cc prog.c \$(pkg-config --cflags fdagent) \$(pkg-config --variable=static_libs fdagent)
static_libs=\${libdir}/libfdagent.a $native_static_libs

Name: fdagent
Description: C client library for fdbroker, the file-descriptor broker
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lfdagent
Libs.private: $native_static_libs
PC
chmod 644 "$destdir$libdir/pkgconfig/fdagent.pc"
echo "installed libfdagent $version in $destdir$libdir, fdagent.h in $destdir$prefix/include"
