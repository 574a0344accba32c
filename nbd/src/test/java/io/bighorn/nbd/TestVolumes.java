package io.bighorn.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.bighorn.dataplane.blockdev.BlockDevice;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** Real local replicas in temporary directories, for tests. */
final class TestVolumes {
    private TestVolumes() {}

    static ReplicaDevice create(Path dir, long size) throws IOException {
        return new ReplicaDevice(Replica.create(dir, size), 1);
    }

    /**
     * Stops a test's server and device (either may be null), deletes its volume, and checks the server
     * met no error a client should never be able to cause.
     */
    static void tearDown(NbdServer server, BlockDevice device, Path dir) throws IOException {
        if (server != null) {
            server.close();
        }
        if (device != null) {
            device.close();
        }
        delete(dir);
        if (server != null) {
            assertThat(server.unexpectedErrors()).isZero();
        }
    }

    static void delete(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
