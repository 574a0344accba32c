/**
 * The NBD server: serves {@link io.bighorn.dataplane.blockdev.BlockDevice}s to NBD clients (qemu, libnbd,
 * the Linux kernel's nbd-client). Public: {@link io.bighorn.nbd.NbdServer}, {@link io.bighorn.nbd.Exports},
 * {@link io.bighorn.nbd.Export}; the protocol code is package-private.
 */
package io.bighorn.nbd;
