package io.bighorn.dataplane.replica;

import io.bighorn.dataplane.blockdev.NoSpaceException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/**
 * A file descriptor driven through libc via FFM: positional I/O, {@code fdatasync}, hole punching and
 * {@code SEEK_DATA}/{@code SEEK_HOLE}. Errors carry errno; ENOSPC becomes {@link NoSpaceException}.
 * Buffers must be native segments.
 */
final class NativeFile implements AutoCloseable {
    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_CREAT = 0100;
    static final int O_CLOEXEC = 02000000;
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;
    private static final int FALLOC_FL_KEEP_SIZE = 1;
    private static final int FALLOC_FL_PUNCH_HOLE = 2;
    private static final int ENOSPC = 28;
    private static final int EDQUOT = 122;
    private static final int ENXIO = 6;
    private static final int EINTR = 4;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MemoryLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option ERRNO_OPT = Linker.Option.captureCallState("errno");

    private static final MethodHandle OPEN = handle(
            "open",
            FunctionDescriptor.of(
                    ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE =
            handle("close", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    /** {@code ssize_t pread/pwrite(int fd, void *buf, size_t count, off_t offset)}. */
    private static final FunctionDescriptor POSITIONAL_IO = FunctionDescriptor.of(
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS,
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG);

    private static final MethodHandle PREAD = handle("pread", POSITIONAL_IO);
    /** {@code ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)}. */
    private static final MethodHandle PREADV2 = LIBC.find("preadv2")
            .map(symbol -> LINKER.downcallHandle(
                    symbol,
                    FunctionDescriptor.of(
                            ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_INT,
                            ValueLayout.ADDRESS,
                            ValueLayout.JAVA_INT,
                            ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_INT),
                    ERRNO_OPT))
            .orElse(null); // a libc without it (glibc before 2.26): every read may wait
    /** preadv2: fail with EAGAIN instead of waiting for the disk. */
    private static final int RWF_NOWAIT = 0x8;

    private static final int EAGAIN = 11;
    private static final int EOPNOTSUPP = 95;
    private static final MethodHandle PWRITE = handle("pwrite", POSITIONAL_IO);
    private static final MethodHandle FDATASYNC =
            handle("fdatasync", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle FTRUNCATE = handle(
            "ftruncate", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
    private static final MethodHandle FALLOCATE = handle(
            "fallocate",
            FunctionDescriptor.of(
                    ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_LONG));
    private static final MethodHandle LSEEK = handle(
            "lseek",
            FunctionDescriptor.of(
                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));

    private static final ThreadLocal<MemorySegment> ERRNO_SEGMENT =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));
    /** One {@code struct iovec} per thread, for {@link #readCached}. */
    private static final ThreadLocal<MemorySegment> IOVEC =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(16, 8));
    /** Cleared once a filesystem refuses RWF_NOWAIT: from then on every read may wait. */
    private static volatile boolean noWait = PREADV2 != null;

    private final Path path;
    private final int fd;
    private volatile boolean closed;

    private NativeFile(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    private static MethodHandle handle(String name, FunctionDescriptor descriptor, Linker.Option... extra) {
        Linker.Option[] options = new Linker.Option[extra.length + 1];
        options[0] = ERRNO_OPT;
        System.arraycopy(extra, 0, options, 1, extra.length);
        MemorySegment symbol =
                LIBC.find(name).orElseThrow(() -> new IllegalStateException("libc has no symbol " + name));
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    static NativeFile open(Path path, int flags) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = arena.allocateFrom(path.toString());
            MemorySegment errno = ERRNO_SEGMENT.get();
            int fd = (int) OPEN.invokeExact(errno, cPath, flags | O_CLOEXEC, 0644);
            if (fd < 0) {
                throw error(path, "open", errno(errno));
            }
            return new NativeFile(path, fd);
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    Path path() {
        return path;
    }

    int fd() {
        return fd;
    }

    /** Reads up to {@code dst.byteSize()} bytes at {@code offset}; returns the count, short only at EOF. */
    long read(MemorySegment dst, long offset) throws IOException {
        long done = 0;
        long length = dst.byteSize();
        while (done < length) {
            long n = call("pread", PREAD, dst.asSlice(done), length - done, offset + done);
            if (n == 0) {
                break;
            }
            done += n;
        }
        return done;
    }

    /**
     * Reads {@code dst.byteSize()} bytes at {@code offset} if the page cache holds them, without ever
     * waiting for the disk ({@code preadv2} with {@code RWF_NOWAIT}). Returns the count (short only at
     * EOF), or -1 where some of it would have to come from the disk; {@code dst} may then hold part of
     * the data.
     */
    long readCached(MemorySegment dst, long offset) throws IOException {
        if (!noWait) {
            return -1;
        }
        MemorySegment errno = ERRNO_SEGMENT.get();
        MemorySegment iov = IOVEC.get();
        long done = 0;
        long length = dst.byteSize();
        while (done < length) {
            iov.set(ValueLayout.ADDRESS, 0, dst.asSlice(done));
            iov.set(ValueLayout.JAVA_LONG, 8, length - done);
            long n;
            try {
                n = (long) PREADV2.invokeExact(errno, fd, iov, 1, offset + done, RWF_NOWAIT);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            if (n == 0) {
                break;
            }
            if (n > 0) {
                done += n;
                continue;
            }
            int e = errno(errno);
            if (e == EAGAIN) {
                return -1;
            }
            if (e == EOPNOTSUPP) {
                noWait = false;
                return -1;
            }
            if (e != EINTR) {
                throw error(path, "preadv2 at offset " + (offset + done), e);
            }
        }
        return done;
    }

    /**
     * The most one pwrite call writes. The kernel sizes page-cache folios after the write that creates them,
     * and every later small write into a folio walks all of its buffer heads, while writeback writes a dirty
     * folio whole: one 1 MiB write leaves a 1 MiB folio that makes each later 4 KiB overwrite there about
     * 2.5 times as costly and write back 1 MiB to disk (measured on ext4 with large folios; see
     * docs/performance.md). Writing in pieces of 64 KiB keeps random overwrites cheap at a cost of a few
     * system calls per MiB.
     */
    static final int MAX_WRITE = 64 << 10;

    void write(MemorySegment src, long offset) throws IOException {
        long done = 0;
        long length = src.byteSize();
        while (done < length) {
            long piece = Math.min(MAX_WRITE - ((offset + done) & (MAX_WRITE - 1)), length - done);
            done += call("pwrite", PWRITE, src.asSlice(done), piece, offset + done);
        }
    }

    private long call(String op, MethodHandle handle, MemorySegment buf, long len, long offset) throws IOException {
        MemorySegment errno = ERRNO_SEGMENT.get();
        while (true) {
            long n;
            try {
                n = (long) handle.invokeExact(errno, fd, buf, len, offset);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            if (n >= 0) {
                return n;
            }
            int e = errno(errno);
            if (e != EINTR) {
                throw error(path, op + " at offset " + offset, e);
            }
        }
    }

    void datasync() throws IOException {
        check("fdatasync", errno -> (int) FDATASYNC.invokeExact(errno, fd));
    }

    void truncate(long size) throws IOException {
        check("ftruncate to " + size, errno -> (int) FTRUNCATE.invokeExact(errno, fd, size));
    }

    /** Deallocates the range; it reads as zeros afterwards and the file size is unchanged. */
    void punchHole(long offset, long length) throws IOException {
        int mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        check("punch hole at " + offset + "+" + length, errno ->
                (int) FALLOCATE.invokeExact(errno, fd, mode, offset, length));
    }

    /** A libc call that returns -1 and sets errno on failure. */
    @FunctionalInterface
    private interface Call {
        int invoke(MemorySegment errno) throws Throwable;
    }

    private void check(String op, Call call) throws IOException {
        MemorySegment errno = ERRNO_SEGMENT.get();
        int r;
        try {
            r = call.invoke(errno);
        } catch (Error | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (r != 0) {
            throw error(path, op, errno(errno));
        }
    }

    /** The start of the next data region at or after {@code offset}, or -1 when there is none. */
    long nextData(long offset) throws IOException {
        return seek(offset, SEEK_DATA);
    }

    /** The start of the next hole at or after {@code offset} (EOF counts as a hole), or -1 past EOF. */
    long nextHole(long offset) throws IOException {
        return seek(offset, SEEK_HOLE);
    }

    private long seek(long offset, int whence) throws IOException {
        MemorySegment errno = ERRNO_SEGMENT.get();
        long r;
        try {
            r = (long) LSEEK.invokeExact(errno, fd, offset, whence);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (r < 0) {
            int e = errno(errno);
            if (e == ENXIO) {
                return -1;
            }
            throw error(path, "lseek", e);
        }
        return r;
    }

    private static int errno(MemorySegment errno) {
        return (int) ERRNO.get(errno, 0L);
    }

    private static IOException error(Path path, String op, int errno) {
        String message = op + " failed on " + path + ": " + strerror(errno) + " (errno " + errno + ")";
        return errno == ENOSPC || errno == EDQUOT ? new NoSpaceException(message) : new IOException(message);
    }

    private static String strerror(int errno) {
        return switch (errno) {
            case 2 -> "no such file or directory";
            case 5 -> "input/output error";
            case 9 -> "bad file descriptor";
            case 13 -> "permission denied";
            case 22 -> "invalid argument";
            case 27 -> "file too large";
            case ENOSPC -> "no space left on device";
            case 30 -> "read-only file system";
            case 95 -> "operation not supported";
            case EDQUOT -> "disk quota exceeded";
            default -> "error";
        };
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        check("close", errno -> (int) CLOSE.invokeExact(errno, fd));
    }
}
