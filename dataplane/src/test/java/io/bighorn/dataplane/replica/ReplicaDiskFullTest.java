package io.bighorn.dataplane.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.bighorn.dataplane.blockdev.NoSpaceException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A replica on a real, small filesystem (a size-limited tmpfs) that runs full. Needs root to mount. */
class ReplicaDiskFullTest {
    private static final int MiB = 1 << 20;

    @TempDir
    Path tmp;

    private Path mount;
    private boolean mounted;

    @BeforeEach
    void mountSmallFilesystem() throws Exception {
        mount = tmp.resolve("small");
        java.nio.file.Files.createDirectories(mount);
        mounted = run("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mount.toString()) == 0;
        assumeThat(mounted).as("mounting a tmpfs needs root").isTrue();
    }

    @AfterEach
    void unmount() throws Exception {
        if (mounted) {
            run("umount", "-l", mount.toString());
        }
    }

    @Test
    void aFullDiskStillTakesANewEpochFromItsMetadataReserve() throws IOException {
        Path dir = mount.resolve("r");
        try (Replica r = Replica.create(dir, 64 * MiB)) {
            assertThat(dir.resolve(ReplicaFiles.RESERVE)).hasSize(ReplicaFiles.RESERVE_BYTES);
            boolean full = false;
            for (int i = 0; i < 64 && !full; i++) {
                try {
                    r.write(1, (long) i * MiB, ByteBuffer.wrap(ReplicaTest.random(MiB, i)));
                } catch (NoSpaceException e) {
                    full = true;
                }
            }
            for (int i = 0; i < 256 * 64; i++) { // fill what is left, block by block
                try {
                    r.write(1, 63L * MiB + 4096L * (i % 256), ByteBuffer.wrap(ReplicaTest.random(4096, i)));
                } catch (NoSpaceException e) {
                    break;
                }
            }
            r.acceptEpoch(2); // a new engine can start on it
            assertThat(r.epoch()).isEqualTo(2);
            assertThat(dir.resolve(ReplicaFiles.RESERVE)).doesNotExist();
        }
        try (Replica r = Replica.open(dir)) {
            assertThat(r.epoch()).isEqualTo(2);
        }
    }

    @Test
    void aFullDiskFailsWritesClearlyAndLosesNothing() throws IOException {
        Path dir = mount.resolve("r");
        byte[] expected = new byte[64 * MiB];
        long written = 0;
        NoSpaceException full = null;
        try (Replica r = Replica.create(dir, 64 * MiB)) {
            for (int i = 0; i < 64 && full == null; i++) {
                byte[] data = ReplicaTest.random(MiB, i);
                try {
                    r.write(1, (long) i * MiB, ByteBuffer.wrap(data));
                    System.arraycopy(data, 0, expected, i * MiB, MiB);
                    written += MiB;
                } catch (NoSpaceException e) {
                    full = e;
                }
            }
            assertThat(full).as("the 6 MiB filesystem fills up").isNotNull();
            assertThat(full.getMessage()).contains("no space left on device");
            assertThat(written).isBetween(1L * MiB, 6L * MiB);
            r.flush();
            assertThat(ReplicaTest.readAll(r)).isEqualTo(expected);

            // a snapshot on a full disk either works or fails cleanly
            try {
                r.snapshot("full", true, Map.of());
            } catch (NoSpaceException e) {
                assertThat(r.snapshots()).isEmpty();
            }
            assertThat(ReplicaTest.readAll(r)).isEqualTo(expected);
        }
        try (Replica r = Replica.open(dir)) {
            assertThat(ReplicaTest.readAll(r)).isEqualTo(expected);
            // freeing space lets writes succeed again
            if (!r.snapshots().isEmpty()) {
                r.deleteSnapshot("full");
                r.purge();
            }
            r.trim(1, 0, 2L * MiB);
            Arrays.fill(expected, 0, 2 * MiB, (byte) 0);
            byte[] data = ReplicaTest.random(MiB, 99);
            r.write(1, 40L * MiB, ByteBuffer.wrap(data));
            System.arraycopy(data, 0, expected, 40 * MiB, MiB);
            r.flush();
            assertThat(ReplicaTest.readAll(r)).isEqualTo(expected);
        }
    }

    private static int run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }
}
