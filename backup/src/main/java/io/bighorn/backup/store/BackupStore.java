package io.bighorn.backup.store;

import java.io.IOException;
import java.time.Instant;
import java.util.List;

/**
 * A backup target at the level of paths: what the block logic above needs from a filesystem or an object
 * store, and nothing more. Paths are relative to the target's base and use {@code /}.
 *
 * <p>Errors: a missing file is a {@link java.nio.file.NoSuchFileException}; any other failure (unreachable
 * endpoint, refused credentials, full disk) an {@link IOException} whose message names the target and the
 * cause.
 */
public interface BackupStore extends AutoCloseable {
    /** The target's URL, as given (without credentials). */
    String url();

    boolean exists(String path) throws IOException;

    /** The whole file; {@link java.nio.file.NoSuchFileException} if there is none. */
    byte[] read(String path) throws IOException;

    /** Writes the whole file; a reader sees the old content or the new, never a part. */
    default void write(String path, byte[] data) throws IOException {
        write(path, data, data.length);
    }

    /** Writes the first {@code length} bytes of {@code data} as the whole file, as {@link #write(String, byte[])}. */
    void write(String path, byte[] data, int length) throws IOException;

    /** The names of the entries directly below {@code dir} (files and directories), sorted; none if absent. */
    List<String> list(String dir) throws IOException;

    /** The paths, relative to {@code dir}, of every file below it at any depth, sorted; none if absent. */
    List<String> listFiles(String dir) throws IOException;

    /** When the file was last written, by the target's clock. */
    Instant modified(String path) throws IOException;

    /** Removes the file; nothing happens if it is absent. */
    void delete(String path) throws IOException;

    /** Removes {@code dir} and everything below it. */
    void deleteAll(String dir) throws IOException;

    @Override
    void close();
}
