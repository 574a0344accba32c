package io.bighorn.dataplane.replica;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bighorn.dataplane.blockdev.NoSpaceException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The files of a replica directory, and the one way metadata is written: temp, fsync, rename, fsync dir. */
final class ReplicaFiles {
    static final String VOLUME = "volume.json";
    static final String COUNTER = "revision.counter";
    static final String LOCK = "replica.lock";
    /** The engine's write-intent map, kept here for it; opaque to the replica. */
    static final String INTENT = "write-intent.json";
    /**
     * Space held back for metadata: a replica whose disk filled up with data must still be able to take
     * an engine's epoch, or no engine could start on it to free space.
     */
    static final String RESERVE = "metadata.reserve";

    static final int RESERVE_BYTES = 1 << 20;

    private static final Pattern LAYER_FILE = Pattern.compile("layer-(\\d+)\\.(img|json)");
    private static final ObjectMapper JSON =
            new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private final Path dir;

    ReplicaFiles(Path dir) {
        this.dir = dir;
    }

    Path dir() {
        return dir;
    }

    Path volume() {
        return dir.resolve(VOLUME);
    }

    Path image(long id) {
        return dir.resolve("layer-%06d.img".formatted(id));
    }

    Path meta(long id) {
        return dir.resolve("layer-%06d.json".formatted(id));
    }

    VolumeMeta readVolume() throws IOException {
        VolumeMeta meta = read(volume(), VolumeMeta.class);
        if (meta.version() != VolumeMeta.VERSION) {
            throw new CorruptMetadataException(volume(), "unsupported format version " + meta.version());
        }
        if (meta.size() <= 0 || meta.size() % Replica.BLOCK != 0 || !meta.contains(meta.head())) {
            throw new CorruptMetadataException(volume(), "bad size or head");
        }
        return meta;
    }

    LayerMeta readLayer(long id) throws IOException {
        return read(meta(id), LayerMeta.class);
    }

    private static <T> T read(Path file, Class<T> type) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new CorruptMetadataException(file, "missing");
        }
        try {
            T value = JSON.readValue(bytes, type);
            if (value == null) {
                throw new CorruptMetadataException(file, "empty");
            }
            return value;
        } catch (JacksonException | IllegalArgumentException | NullPointerException e) {
            throw new CorruptMetadataException(file, "unreadable JSON: " + e.getMessage());
        }
    }

    void writeVolume(VolumeMeta meta) throws IOException {
        writeAtomically(volume(), meta);
    }

    void writeLayer(long id, LayerMeta meta) throws IOException {
        writeAtomically(meta(id), meta);
    }

    private void writeAtomically(Path target, Object value) throws IOException {
        writeAtomically(target, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(value));
    }

    /**
     * Replaces {@code target} with {@code bytes}: temp, fsync, rename, fsync dir. On a full disk the
     * metadata reserve is given up and the write tried once more.
     */
    void writeAtomically(Path target, byte[] bytes) throws IOException {
        try {
            replace(target, bytes);
        } catch (NoSpaceException e) {
            if (!releaseReserve()) {
                throw e;
            }
            replace(target, bytes);
        }
    }

    private void replace(Path target, byte[] bytes) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(
                    tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.wrap(bytes);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            Faults.at("meta.beforeRename:" + target.getFileName());
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw NoSpace.classify(e, "writing " + target);
        }
        try {
            syncDir();
        } catch (IOException e) {
            throw new CommitUncertainException("renamed " + target + " but could not sync its directory", e);
        }
    }

    /** Allocates the metadata reserve if it is missing; a disk too full for it is left as it is. */
    void ensureReserve() {
        Path reserve = dir.resolve(RESERVE);
        try {
            if (Files.exists(reserve) && Files.size(reserve) == RESERVE_BYTES) {
                return;
            }
            try (FileChannel ch = FileChannel.open(
                    reserve,
                    StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                ByteBuffer zeros = ByteBuffer.allocate(RESERVE_BYTES);
                while (zeros.hasRemaining()) {
                    ch.write(zeros);
                }
                ch.force(true);
            }
        } catch (IOException e) {
            try {
                Files.deleteIfExists(reserve);
            } catch (IOException ignored) {
                // the next open tries again
            }
        }
    }

    private boolean releaseReserve() throws IOException {
        if (!Files.deleteIfExists(dir.resolve(RESERVE))) {
            return false;
        }
        syncDir();
        org.slf4j.LoggerFactory.getLogger(ReplicaFiles.class)
                .warn("{}: the disk is full; released the metadata reserve to write metadata", dir);
        return true;
    }

    void syncDir() throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    void deleteLayer(long id) throws IOException {
        Files.deleteIfExists(image(id));
        Files.deleteIfExists(meta(id));
    }

    /** Deletes layer files not in {@code keep} and temp files: what interrupted operations left behind. */
    int deleteLeftovers(Set<Long> keep) throws IOException {
        int deleted = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                Matcher m = LAYER_FILE.matcher(name);
                boolean leftover = name.endsWith(".tmp") || (m.matches() && !keep.contains(Long.parseLong(m.group(1))));
                if (leftover) {
                    Files.deleteIfExists(f);
                    deleted++;
                }
            }
        }
        if (deleted > 0) {
            syncDir();
        }
        return deleted;
    }
}
