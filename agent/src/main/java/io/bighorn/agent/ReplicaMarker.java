package io.bighorn.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Which volume a replica directory belongs to, kept beside it ({@code <name>.volume}) so that an agent
 * restarted on its disks can report its replicas with their volumes.
 */
final class ReplicaMarker {
    private ReplicaMarker() {}

    static Path file(Path replicaDir) {
        return replicaDir.resolveSibling(replicaDir.getFileName() + ".volume");
    }

    static void write(Path replicaDir, String volume) throws IOException {
        Path f = file(replicaDir);
        if (!Files.exists(f)) {
            DiskId.write(f, volume + "\n");
        }
    }

    static String volume(Path replicaDir) throws IOException {
        Path f = file(replicaDir);
        return Files.exists(f) ? Files.readString(f).strip() : "";
    }
}
