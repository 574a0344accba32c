package io.bighorn.agent;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.UUID;

/**
 * A disk's identity: a random id written into {@code disk.json} at first use, so a disk can be told from
 * another mounted at the same path. Written atomically: temp file, fsync, rename, fsync of the directory.
 */
final class DiskId {
    private DiskId() {}

    static String read(Path disk) throws IOException {
        Path file = disk.resolve("disk.json");
        if (Files.exists(file)) {
            String text = Files.readString(file);
            int at = text.indexOf("\"uuid\"");
            int start = text.indexOf('"', text.indexOf(':', at) + 1) + 1;
            int end = text.indexOf('"', start);
            if (at < 0 || start <= 0 || end < 0) {
                throw new IOException(file + " is damaged: no uuid in it");
            }
            return text.substring(start, end);
        }
        String id = UUID.randomUUID().toString();
        write(file, "{\"uuid\":\"" + id + "\"}\n");
        return id;
    }

    /** Writes {@code text} to {@code file} so that a crash leaves either the old file or the new one. */
    static void write(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(
                tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(java.nio.ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        try (FileChannel dir = FileChannel.open(file.getParent(), StandardOpenOption.READ)) {
            dir.force(true);
        }
    }
}
