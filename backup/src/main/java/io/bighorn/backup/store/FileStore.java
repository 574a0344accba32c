package io.bighorn.backup.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * A backup target on a filesystem: a local directory or a mounted NFS share. Files are written to a
 * temporary name, synced and renamed into place, so a crash leaves either the old file or the new one. The
 * rename is made durable by syncing the directory: at once for every file but blocks ({@code .blk}),
 * whose directories are synced in one go before the next other file is written. Blocks are only ever
 * referenced by a cfg written after them, so every block a cfg names is durable before the cfg is.
 *
 * <p>Blocks are written with {@code O_DIRECT} where the filesystem allows it: a backup's blocks are
 * written once and rarely read soon, so they should not push the node's working set (its replicas' data)
 * out of the page cache, and the copy into the page cache is most of the CPU a buffered write costs. The
 * data goes out padded to the alignment and the file is then cut to its length. Where {@code O_DIRECT}
 * is refused (tmpfs, some FUSE or network filesystems), blocks are written buffered like the other files.
 */
final class FileStore implements BackupStore {
    private final String url;
    private final Path base;
    /** Directories with renamed blocks not yet synced. */
    private final java.util.Set<Path> unsynced = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** Whether blocks are still tried with {@code O_DIRECT}; cleared the first time it is refused. */
    private volatile boolean direct;

    /** A writer's aligned native buffer for direct writes, reused. */
    private static final ThreadLocal<ByteBuffer> ALIGNED = new ThreadLocal<>();

    /** Alignment of direct writes: the page size, which every Linux filesystem accepts. */
    private static final int ALIGN = 4096;

    FileStore(String url, Path base) {
        this(url, base, true);
    }

    FileStore(String url, Path base, boolean direct) {
        this.url = url;
        this.base = base;
        this.direct = direct;
    }

    @Override
    public String url() {
        return url;
    }

    private Path resolve(String path) {
        Path p = base.resolve(path).normalize();
        if (!p.startsWith(base)) {
            throw new IllegalArgumentException("path " + path + " leaves the backup target " + url);
        }
        return p;
    }

    @Override
    public boolean exists(String path) {
        return Files.isRegularFile(resolve(path));
    }

    @Override
    public byte[] read(String path) throws IOException {
        return Files.readAllBytes(resolve(path));
    }

    @Override
    public void write(String path, byte[] data, int length) throws IOException {
        java.util.Objects.checkFromIndexSize(0, length, data.length);
        Path target = resolve(path);
        Path dir = target.getParent();
        Files.createDirectories(dir);
        Path tmp = dir.resolve(target.getFileName() + ".tmp."
                + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        boolean block = path.endsWith(".blk");
        if (!block) {
            syncPending();
        }
        try {
            if (!(block && direct && writeDirect(tmp, data, length))) {
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    ByteBuffer buf = ByteBuffer.wrap(data, 0, length);
                    while (buf.hasRemaining()) {
                        ch.write(buf);
                    }
                    ch.force(true);
                }
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw new IOException("cannot write " + path + " to " + url + ": " + e, e);
        }
        if (block) {
            unsynced.add(dir);
        } else {
            syncDirectory(dir);
        }
    }

    /**
     * Writes {@code data[0, length)} as the new file {@code tmp} with {@code O_DIRECT}, durably; false (and
     * nothing written) if the filesystem refuses direct I/O, which then is not tried again.
     */
    private boolean writeDirect(Path tmp, byte[] data, int length) throws IOException {
        int padded = (length + ALIGN - 1) & -ALIGN;
        ByteBuffer buf = ALIGNED.get();
        if (buf == null || buf.capacity() < padded) {
            buf = ByteBuffer.allocateDirect(padded + ALIGN).alignedSlice(ALIGN);
            ALIGNED.set(buf);
        }
        buf.clear();
        buf.put(data, 0, length);
        while (buf.position() < padded) {
            buf.put((byte) 0);
        }
        buf.flip();
        FileChannel ch;
        try {
            ch = FileChannel.open(
                    tmp,
                    StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE,
                    com.sun.nio.file.ExtendedOpenOption.DIRECT);
        } catch (UnsupportedOperationException | IOException refused) {
            if (refused instanceof IOException e && !refusesDirect(e)) {
                throw e; // a full disk, no permission...: the caller reports it
            }
            Files.deleteIfExists(tmp);
            direct = false;
            return false;
        }
        try (ch) {
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.truncate(length);
            ch.force(true);
        } catch (IOException e) {
            if (!refusesDirect(e)) {
                throw e;
            }
            // opened, but the alignment does not suit the device: write this and later blocks buffered
            Files.deleteIfExists(tmp);
            direct = false;
            return false;
        }
        return true;
    }

    /** Whether {@code e} is the EINVAL with which Linux refuses direct I/O (unsupported, or misaligned). */
    private static boolean refusesDirect(IOException e) {
        return String.valueOf(e.getMessage()).contains("Invalid argument");
    }

    private void syncPending() throws IOException {
        for (Path dir : List.copyOf(unsynced)) {
            syncDirectory(dir);
            unsynced.remove(dir);
        }
    }

    private static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    @Override
    public List<String> list(String dir) throws IOException {
        Path d = resolve(dir);
        if (!Files.isDirectory(d)) {
            return List.of();
        }
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(d)) {
            for (Path p : entries) {
                String name = p.getFileName().toString();
                if (!name.contains(".tmp.")) {
                    names.add(name);
                }
            }
        }
        names.sort(null);
        return names;
    }

    @Override
    public List<String> listFiles(String dir) throws IOException {
        Path d = resolve(dir);
        if (!Files.isDirectory(d)) {
            return List.of();
        }
        try (Stream<Path> walk = Files.walk(d)) {
            return walk.filter(Files::isRegularFile)
                    .filter(p -> !p.getFileName().toString().contains(".tmp."))
                    .map(p -> d.relativize(p).toString().replace('\\', '/'))
                    .sorted()
                    .toList();
        }
    }

    @Override
    public Instant modified(String path) throws IOException {
        Path p = resolve(path);
        if (!Files.isRegularFile(p)) {
            throw new NoSuchFileException(path);
        }
        return Files.getLastModifiedTime(p).toInstant();
    }

    @Override
    public void delete(String path) throws IOException {
        Files.deleteIfExists(resolve(path));
    }

    @Override
    public void deleteAll(String dir) throws IOException {
        Path d = resolve(dir);
        if (!Files.exists(d)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(d)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Override
    public void close() {}
}
