# The oldest systems the prebuilt binaries support, stated once: sourced by
# scripts/build-all.sh (which builds for them) and scripts/check-binary.sh
# (which checks each binary against them).
GLIBC_FLOOR=2.17         # CentOS 7 / RHEL 7 era, what napi-rs packages target; zig links these symbol versions
MACOS_FLOOR_ARM64=11.0   # the first macOS on Apple silicon
MACOS_FLOOR_X64=10.13    # older than any macOS a supported Node (20+) runs on
