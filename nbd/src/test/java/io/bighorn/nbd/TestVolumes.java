package io.bighorn.nbd;

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
