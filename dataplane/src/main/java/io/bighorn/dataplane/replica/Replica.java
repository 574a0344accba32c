package io.bighorn.dataplane.replica;

import io.bighorn.common.Names;
import io.bighorn.dataplane.blockdev.BlockDevice;
import io.bighorn.dataplane.blockdev.OutOfRangeException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One copy of a volume on one disk: a tree of sparse layer files, immutable snapshots below one writable
 * head, with a block index saying which layer holds each 4 KiB block.
 *
 * <p><b>Files.</b> {@code volume.json} names the size, the epoch, the head and every layer with its
 * parent; {@code layer-N.img} holds a layer's data (holes where it has none) and {@code layer-N.json}
 * its name, time, labels and removed flag; {@code revision.counter} holds the write revision. A change
 * to the chain first writes new files under fresh ids, then commits by replacing {@code volume.json}
 * atomically (temp, fsync, rename, fsync dir); files it does not name are deleted at open. So a crash at
 * any point leaves the before or the after state.
 *
 * <p><b>Index.</b> For each block an int: bit 31 says the head holds it, the low bits give the slot of
 * the topmost snapshot in the head's chain that holds it (0: none). Keeping the snapshot part even where
 * the head holds the block tells trim whether it may punch the head (nothing below) or must write zeros.
 * A snapshot only relabels values ("head" becomes the new snapshot's slot) in O(chunks). The index is
 * rebuilt at open from the files' extents (SEEK_DATA/SEEK_HOLE), so it is never persisted.
 *
 * <p><b>Concurrency.</b> I/O runs in parallel under the read side of {@code ioLock}; chain changes that
 * move the head (snapshot, revert, expand, purge commits) take its write side, which drains I/O.
 * {@code opLock} serialises chain operations, so a long purge copy runs beside I/O. Within I/O, 64 KiB
 * region locks let whole-block writes share and make read-modify-write of partial blocks, trim and
 * write-zeroes exclusive. A write lands in the head file before the index says so, so a reader sees the
 * old block or the new one, never a hole.
 */
public final class Replica implements AutoCloseable {
    /** Index granularity: 4 KiB. */
    public static final int BLOCK = 4096;
    /** I/O granularity: offsets and lengths are multiples of 512 bytes. */
    public static final int SECTOR = 512;
    /** How the head is named in chains and snapshot children. */
    public static final String HEAD_NAME = "volume-head";
    /** The largest volume a replica serves: 1 PiB. */
    public static final long MAX_SIZE = 1L << 50;

    static final int HEAD = 1 << 31;
    private static final int SHIFT = 12;
    /** 1 MiB of zeros, never written. */
    static final MemorySegment ZEROS = Arena.global().allocate(1 << 20, BLOCK);

    private static final Logger log = LoggerFactory.getLogger(Replica.class);

    private final ReplicaFiles files;
    private final boolean readOnly;
    private final Clock clock;
    private final FileChannel lockChannel;
    private final RevisionCounter counter;
    private final AtomicLong revision;
    private final RwLock ioLock = new RwLock();
    private final ReentrantLock opLock = new ReentrantLock();
    private final RwLock purgeLock = new RwLock();
    private final Object metaLock = new Object();
    private final StripedLocks stripes = new StripedLocks();
    private final Map<Long, Layer> layers = new ConcurrentHashMap<>();
    /** While rebuilding: blocks the head took a partial write of, with guessed bytes around it. */
    private final Set<Long> partials = ConcurrentHashMap.newKeySet();

    private volatile VolumeMeta meta;
    private volatile long size;
    private volatile Layer head;
    private volatile Layer[] slots;
    private volatile BlockMap index;
    private volatile boolean closed;

    private Replica(
            ReplicaFiles files,
            boolean readOnly,
            Clock clock,
            FileChannel lockChannel,
            RevisionCounter counter,
            VolumeMeta meta,
            Map<Long, Layer> opened) {
        this.files = files;
        this.readOnly = readOnly;
        this.clock = clock;
        this.lockChannel = lockChannel;
        this.counter = counter;
        this.revision = new AtomicLong(counter.persisted());
        this.meta = meta;
        this.size = meta.size();
        this.layers.putAll(opened);
        this.head = opened.get(meta.head());
    }

    // ---- lifecycle ----

    /** Creates a replica of {@code size} bytes (a multiple of 4 KiB) in {@code dir}, which holds none yet. */
    public static Replica create(Path dir, long size) throws IOException {
        return create(dir, size, Clock.systemUTC());
    }

    public static Replica create(Path dir, long size, Clock clock) throws IOException {
        requireSize(size);
        Files.createDirectories(dir);
        ReplicaFiles files = new ReplicaFiles(dir);
        FileChannel lock = lockDir(dir);
        try {
            if (Files.exists(files.volume())) {
                throw new FileAlreadyExistsException(
                        files.volume().toString(), null, "a replica already exists in " + dir);
            }
            files.deleteLeftovers(Set.of());
            long headId = 1;
            try (NativeFile f = NativeFile.open(files.image(headId), NativeFile.O_RDWR | NativeFile.O_CREAT)) {
                f.truncate(size);
                f.datasync();
            }
            files.writeLayer(headId, new LayerMeta(null, now(clock), false, Map.of(), false));
            RevisionCounter.create(dir.resolve(ReplicaFiles.COUNTER));
            files.writeVolume(new VolumeMeta(
                    VolumeMeta.VERSION, size, headId, headId + 1, 0, List.of(new VolumeMeta.Link(headId, 0)), false));
            return open(files, false, clock, lock);
        } catch (IOException | RuntimeException e) {
            lock.close();
            throw e;
        }
    }

    /** Opens the replica in {@code dir} for reading and writing; one process at a time. */
    public static Replica open(Path dir) throws IOException {
        return open(dir, false, Clock.systemUTC());
    }

    /**
     * Opens the replica in {@code dir}. Read-only opens take no lock, change no file and may run beside
     * the process that serves the replica.
     */
    public static Replica open(Path dir, boolean readOnly, Clock clock) throws IOException {
        ReplicaFiles files = new ReplicaFiles(dir);
        if (!Files.isDirectory(dir)) {
            throw new CorruptMetadataException(dir, "not a directory");
        }
        FileChannel lock = readOnly ? null : lockDir(dir);
        try {
            return open(files, readOnly, clock, lock);
        } catch (IOException | RuntimeException e) {
            if (lock != null) {
                lock.close();
            }
            throw e;
        }
    }

    private static Replica open(ReplicaFiles files, boolean readOnly, Clock clock, FileChannel lock)
            throws IOException {
        VolumeMeta meta = files.readVolume();
        Map<Long, LayerMeta> metas = new HashMap<>();
        for (VolumeMeta.Link link : meta.layers()) {
            if (link.parent() != 0 && !meta.contains(link.parent())) {
                throw new CorruptMetadataException(files.volume(), "layer " + link.id() + " has no parent");
            }
            LayerMeta m = files.readLayer(link.id());
            if ((link.id() == meta.head()) != (m.name() == null)) {
                throw new CorruptMetadataException(files.meta(link.id()), "head and name disagree");
            }
            metas.put(link.id(), m);
        }
        meta.chainTo(meta.head());
        if (!readOnly) {
            int deleted = files.deleteLeftovers(metas.keySet());
            if (deleted > 0) {
                log.info("{}: deleted {} files left by an interrupted operation", files.dir(), deleted);
            }
            files.ensureReserve();
        }
        Map<Long, Layer> opened = new HashMap<>();
        RevisionCounter counter = null;
        try {
            for (var e : metas.entrySet()) {
                int flags = readOnly ? NativeFile.O_RDONLY : NativeFile.O_RDWR;
                opened.put(
                        e.getKey(),
                        new Layer(e.getKey(), NativeFile.open(files.image(e.getKey()), flags), e.getValue()));
            }
            if (!readOnly && Files.size(files.image(meta.head())) < meta.size()) {
                opened.get(meta.head()).file.truncate(meta.size());
            }
            counter = RevisionCounter.open(files.dir().resolve(ReplicaFiles.COUNTER), readOnly);
            Replica replica = new Replica(files, readOnly, clock, lock, counter, meta, opened);
            replica.rebuildIndex();
            return replica;
        } catch (IOException | RuntimeException e) {
            for (Layer l : opened.values()) {
                closeQuietly(l);
            }
            if (counter != null) {
                closeQuietly(counter);
            }
            throw e;
        }
    }

    private static FileChannel lockDir(Path dir) throws IOException {
        FileChannel ch =
                FileChannel.open(dir.resolve(ReplicaFiles.LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            FileLock lock = ch.tryLock();
            if (lock == null) {
                throw new IOException("replica " + dir + " is in use by another process");
            }
        } catch (OverlappingFileLockException e) {
            ch.close();
            throw new IOException("replica " + dir + " is already open in this process", e);
        } catch (IOException e) {
            ch.close();
            throw e;
        }
        return ch;
    }

    /** Flushes and closes every file; the replica cannot be used afterwards. */
    @Override
    public void close() throws IOException {
        opLock.lock();
        ioLock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            IOException failure = null;
            if (!readOnly) {
                try {
                    head.file.datasync();
                    counter.persist(revision.get());
                } catch (IOException e) {
                    failure = e;
                }
            }
            for (Layer l : layers.values()) {
                closeQuietly(l);
            }
            closeQuietly(counter);
            if (lockChannel != null) {
                closeQuietly(lockChannel);
            }
            if (failure != null) {
                throw failure;
            }
        } finally {
            ioLock.writeLock().unlock();
            opLock.unlock();
        }
    }

    // ---- I/O ----

    /** The replica's directory. */
    public Path directory() {
        return files.dir();
    }

    public long size() {
        return size;
    }

    /** Reads {@code dst.remaining()} bytes at {@code offset} into {@code dst}, advancing its position. */
    public void read(long offset, ByteBuffer dst) throws IOException {
        int n = dst.remaining();
        if (dst.isDirect()) {
            read(offset, MemorySegment.ofBuffer(dst));
        } else {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment tmp = arena.allocate(n, BLOCK);
                read(offset, tmp);
                MemorySegment.ofBuffer(dst).copyFrom(tmp);
            }
        }
        dst.position(dst.position() + n);
    }

    /** Reads {@code dst.byteSize()} bytes at {@code offset}; offset and length are multiples of 512. */
    public void read(long offset, MemorySegment dst) throws IOException {
        ioLock.readLock().lock();
        try {
            ensureOpen();
            long length = dst.byteSize();
            OutOfRangeException.check(offset, length, size, SECTOR);
            if (length > 0) {
                readLocked(offset, dst);
            }
        } finally {
            ioLock.readLock().unlock();
        }
    }

    /**
     * Holds all I/O as a chain change does, until the returned handle is closed: every read and write
     * waits meanwhile (tests use it for a replica whose disk stalls).
     */
    AutoCloseable pauseIo() {
        ioLock.writeLock().lock();
        return () -> ioLock.writeLock().unlock();
    }

    /**
     * Does what {@link #read(long, MemorySegment)} does if that needs no waiting: the replica's lock is
     * free and the page cache holds every block read. Returns false where it would wait (for a chain
     * change, or for the disk), {@code dst} then possibly half filled: call {@code read} then, on a
     * thread that may wait.
     */
    public boolean readIfCached(long offset, MemorySegment dst) throws IOException {
        if (!ioLock.readLock().tryLock()) {
            return false;
        }
        try {
            ensureOpen();
            long length = dst.byteSize();
            OutOfRangeException.check(offset, length, size, SECTOR);
            boolean[] cached = {true};
            forEachPart(offset, length, (layer, at, partLength) -> {
                MemorySegment part = dst.asSlice(at - offset, partLength);
                if (!cached[0]) {
                    return;
                }
                if (layer == null) {
                    part.fill((byte) 0);
                    return;
                }
                long n = layer.file.readCached(part, at);
                if (n < 0) {
                    cached[0] = false;
                } else if (n < part.byteSize()) {
                    part.asSlice(n).fill((byte) 0);
                }
            });
            return cached[0];
        } finally {
            ioLock.readLock().unlock();
        }
    }

    /**
     * Plans a read of {@code length} bytes at {@code offset} (multiples of 512) to be sent straight from
     * the layer files ({@link FileRead#transferTo}); close the result once it is sent or dropped.
     */
    public FileRead readForTransfer(long offset, long length) throws IOException {
        ioLock.readLock().lock();
        try {
            ensureOpen();
            OutOfRangeException.check(offset, length, size, SECTOR);
            FileRead read = new FileRead();
            try {
                forEachPart(offset, length, read::add);
            } catch (IOException | RuntimeException e) {
                read.close();
                throw e;
            }
            return read;
        } finally {
            ioLock.readLock().unlock();
        }
    }

    private void readLocked(long offset, MemorySegment dst) throws IOException {
        forEachPart(
                offset, dst.byteSize(), (layer, at, length) -> readFrom(layer, dst.asSlice(at - offset, length), at));
    }

    /** Where a range's bytes are, under the read lock: one call per run of blocks in one layer or none. */
    @FunctionalInterface
    private interface Part {
        /** {@code length} bytes at volume offset {@code at} are in {@code layer}, or nowhere (zeros) if null. */
        void accept(Layer layer, long at, long length) throws IOException;
    }

    private void forEachPart(long offset, long length, Part part) throws IOException {
        long end = offset + length;
        Layer[] sl = slots;
        Layer h = head;
        index.forEachRun(offset >>> SHIFT, blocksUpTo(end), (from, to, v) -> {
            long s = Math.max(from << SHIFT, offset);
            part.accept(layerFor(v, h, sl), s, Math.min(to << SHIFT, end) - s);
        });
    }

    private static Layer layerFor(int v, Layer h, Layer[] sl) {
        return (v & HEAD) != 0 ? h : v == 0 ? null : sl[v];
    }

    private static void readFrom(Layer layer, MemorySegment part, long at) throws IOException {
        if (layer == null) {
            part.fill((byte) 0);
            return;
        }
        long n = layer.file.read(part, at);
        if (n < part.byteSize()) {
            part.asSlice(n).fill((byte) 0);
        }
    }

    /** Writes {@code src.remaining()} bytes at {@code offset}, advancing its position. */
    public void write(long epoch, long offset, ByteBuffer src) throws IOException {
        int n = src.remaining();
        if (src.isDirect()) {
            write(epoch, offset, MemorySegment.ofBuffer(src));
        } else {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment tmp = arena.allocate(n, BLOCK);
                tmp.copyFrom(MemorySegment.ofBuffer(src));
                write(epoch, offset, tmp);
            }
        }
        src.position(src.position() + n);
    }

    /**
     * Writes {@code src} at {@code offset} (multiples of 512) for an engine of {@code epoch}. A lower epoch
     * than the replica has accepted is refused; a higher one is accepted (and persisted) first. On failure
     * (a full disk, say) the blocks the head did not hold before are released again.
     */
    public void write(long epoch, long offset, MemorySegment src) throws IOException {
        ioLock.readLock().lock();
        try {
            ensureWritable();
            checkEpoch(epoch);
            long length = src.byteSize();
            OutOfRangeException.check(offset, length, size, SECTOR);
            if (length == 0) {
                return;
            }
            long end = offset + length;
            boolean partialStart = (offset & (BLOCK - 1)) != 0;
            boolean partialEnd = (end & (BLOCK - 1)) != 0;
            try (StripedLocks.Held held =
                    stripes.lock(offset, length, partialStart ? offset : -1, partialEnd ? end - 1 : -1, false)) {
                writeLocked(offset, src);
            }
            revision.incrementAndGet();
        } finally {
            ioLock.readLock().unlock();
        }
    }

    private void writeLocked(long offset, MemorySegment src) throws IOException {
        long end = offset + src.byteSize();
        long alignedStart = roundUp(offset);
        long alignedEnd = end & -BLOCK;
        if (alignedStart > alignedEnd) { // inside one block
            writePartial(offset >>> SHIFT, (int) (offset & (BLOCK - 1)), src);
            return;
        }
        if (offset < alignedStart) {
            writePartial(offset >>> SHIFT, (int) (offset & (BLOCK - 1)), src.asSlice(0, alignedStart - offset));
        }
        if (alignedStart < alignedEnd) {
            writeBlocks(alignedStart, src.asSlice(alignedStart - offset, alignedEnd - alignedStart));
        }
        if (alignedEnd < end) {
            writePartial(alignedEnd >>> SHIFT, 0, src.asSlice(alignedEnd - offset));
        }
    }

    private void writeBlocks(long offset, MemorySegment data) throws IOException {
        long from = offset >>> SHIFT;
        long to = (offset + data.byteSize()) >>> SHIFT;
        try {
            head.file.write(data, offset);
        } catch (IOException e) {
            releaseNewBlocks(from, to, e);
            throw e;
        }
        index.update(from, to, Replica::setHead);
    }

    /** Writes part of one block: directly if the head holds it, else by read-modify-write of the block. */
    private void writePartial(long block, int inner, MemorySegment data) throws IOException {
        int v = index.get(block);
        if ((v & HEAD) != 0) {
            head.file.write(data, (block << SHIFT) + inner);
            return;
        }
        if (meta.rebuilding()) { // the layers below are still being copied: the rest of the block is a guess
            partials.add(block);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(BLOCK, BLOCK);
            readFrom(layerFor(v, head, slots), buf, block << SHIFT);
            buf.asSlice(inner, data.byteSize()).copyFrom(data);
            writeBlocks(block << SHIFT, buf);
        }
    }

    /** After a failed write, punches the blocks of the range that the head did not hold before. */
    private void releaseNewBlocks(long from, long to, IOException cause) {
        try {
            index.forEachRun(from, to, (a, b, v) -> {
                if ((v & HEAD) == 0) {
                    head.file.punchHole(a << SHIFT, (b - a) << SHIFT);
                }
            });
        } catch (IOException e) {
            cause.addSuppressed(e);
        }
    }

    /** Deallocates the range where no snapshot below holds data; reads of it return zeros afterwards. */
    public void trim(long epoch, long offset, long length) throws IOException {
        zero(epoch, offset, length);
    }

    /** Makes the range read as zeros, punching holes where no snapshot below holds data. */
    public void writeZeroes(long epoch, long offset, long length) throws IOException {
        zero(epoch, offset, length);
    }

    private void zero(long epoch, long offset, long length) throws IOException {
        ioLock.readLock().lock();
        try {
            ensureWritable();
            checkEpoch(epoch);
            OutOfRangeException.check(offset, length, size, SECTOR);
            if (length == 0) {
                return;
            }
            long end = offset + length;
            try (StripedLocks.Held held = stripes.lock(offset, length, -1, -1, true)) {
                long alignedStart = roundUp(offset);
                long alignedEnd = end & -BLOCK;
                if (alignedStart > alignedEnd) {
                    zeroPartial(offset >>> SHIFT, (int) (offset & (BLOCK - 1)), length);
                } else {
                    if (offset < alignedStart) {
                        zeroPartial(offset >>> SHIFT, (int) (offset & (BLOCK - 1)), alignedStart - offset);
                    }
                    if (alignedStart < alignedEnd) {
                        zeroBlocks(alignedStart >>> SHIFT, alignedEnd >>> SHIFT);
                    }
                    if (alignedEnd < end) {
                        zeroPartial(alignedEnd >>> SHIFT, 0, end - alignedEnd);
                    }
                }
            }
            revision.incrementAndGet();
        } finally {
            ioLock.readLock().unlock();
        }
    }

    private void zeroPartial(long block, int inner, long length) throws IOException {
        if (index.get(block) != 0 || meta.rebuilding()) {
            writePartial(block, inner, ZEROS.asSlice(0, length));
        }
    }

    /**
     * Zeroes whole blocks. Where no snapshot below holds a block the head is punched. Where only removed
     * snapshots hold it, and they sit in an unbranched run right under the head (so nothing else reads
     * them), they are punched too, and the head with them unless a kept snapshot further down holds the
     * block. Everywhere else zeros are written into the head. Punching removed snapshots is skipped
     * while a purge is moving their data.
     */
    private void zeroBlocks(long from, long to) throws IOException {
        if (meta.rebuilding()) { // what the layers below hold is not known yet: zeros must shadow it
            writeZeroBlocks(from, to);
            return;
        }
        List<long[]> runs = new ArrayList<>();
        index.forEachRun(from, to, (a, b, v) -> runs.add(new long[] {a, b, v}));
        Layer[] sl = slots;
        int removedFloor = removedRunFloor(sl);
        boolean punchRemoved = removedFloor < sl.length && purgeLock.readLock().tryLock();
        try {
            for (long[] run : runs) {
                int v = (int) run[2];
                int snap = v & ~HEAD;
                if (v == 0) {
                    continue;
                }
                if (snap == 0) {
                    punchHead(run[0], run[1]);
                } else if (punchRemoved && snap >= removedFloor) {
                    zeroThroughRemoved(run[0], run[1], sl, removedFloor);
                } else {
                    writeZeroBlocks(run[0], run[1]);
                }
            }
        } finally {
            if (punchRemoved) {
                purgeLock.readLock().unlock();
            }
        }
    }

    /** The lowest slot of the run of removed, single-child snapshots right under the head. */
    private int removedRunFloor(Layer[] sl) {
        VolumeMeta m = meta;
        int floor = sl.length;
        while (floor > 1) {
            Layer l = sl[floor - 1];
            if (!l.meta().removed() || m.childrenOf(l.id).size() != 1) {
                break;
            }
            floor--;
        }
        return floor;
    }

    private void zeroThroughRemoved(long from, long to, Layer[] sl, int floor) throws IOException {
        int window = 1 << 16;
        for (long windowStart = from; windowStart < to; windowStart += window) {
            long start = windowStart;
            long end = Math.min(to, start + window);
            int[] below = new int[(int) (end - start)];
            for (int slot = 1; slot < floor; slot++) {
                int s = slot;
                Extents.forEach(sl[slot].file, start << SHIFT, end << SHIFT, (a, b) -> {
                    long x = Math.max(a >>> SHIFT, start);
                    long y = Math.min(blocksUpTo(b), end);
                    if (x < y) {
                        Arrays.fill(below, (int) (x - start), (int) (y - start), s);
                    }
                });
            }
            // 1. zeros into the head where a kept snapshot below holds data, durable before anything is
            //    punched, so a power loss can never uncover that older data
            List<long[]> runs = new ArrayList<>();
            for (int i = 0; i < below.length; ) {
                int j = i;
                while (j < below.length && below[j] == below[i]) {
                    j++;
                }
                runs.add(new long[] {start + i, start + j, below[i]});
                i = j;
            }
            boolean wroteZeros = false;
            for (long[] run : runs) {
                if (run[2] != 0) {
                    writeZeroBlocks(run[0], run[1]);
                    index.set(run[0], run[1], (int) run[2] | HEAD);
                    wroteZeros = true;
                }
            }
            if (wroteZeros) {
                head.file.datasync();
            }
            // 2. the removed snapshots give the range up; 3. the head too where nothing is left below
            Layer previous = null;
            for (int slot = floor; slot < sl.length; slot++) {
                if (sl[slot] != previous) {
                    sl[slot].file.punchHole(start << SHIFT, (end - start) << SHIFT);
                    previous = sl[slot];
                }
            }
            for (long[] run : runs) {
                if (run[2] == 0) {
                    punchHead(run[0], run[1]);
                }
            }
        }
    }

    private void punchHead(long from, long to) throws IOException {
        head.file.punchHole(from << SHIFT, (to - from) << SHIFT);
        index.set(from, to, 0);
    }

    private void writeZeroBlocks(long from, long to) throws IOException {
        for (long b = from; b < to; b += ZEROS.byteSize() >>> SHIFT) {
            long n = Math.min(to - b, ZEROS.byteSize() >>> SHIFT);
            writeBlocks(b << SHIFT, ZEROS.asSlice(0, n << SHIFT));
        }
    }

    /**
     * The allocation of {@code [offset, offset+length)} at 4 KiB granularity (widened to whole blocks):
     * extents where some layer of the chain holds data, and holes that read as zeros.
     */
    public List<BlockDevice.Extent> extents(long offset, long length) throws IOException {
        ioLock.readLock().lock();
        try {
            ensureOpen();
            OutOfRangeException.check(offset, length, size, SECTOR);
            List<BlockDevice.Extent> extents = new ArrayList<>();
            long end = offset + length;
            index.forEachRun(offset >>> SHIFT, blocksUpTo(end), (from, to, v) -> {
                long s = Math.max(from << SHIFT, offset);
                long e = Math.min(to << SHIFT, end);
                boolean allocated = v != 0;
                int last = extents.size() - 1;
                if (last >= 0 && extents.get(last).allocated() == allocated) {
                    BlockDevice.Extent prev = extents.remove(last);
                    extents.add(new BlockDevice.Extent(prev.offset(), e - prev.offset(), allocated));
                } else {
                    extents.add(new BlockDevice.Extent(s, e - s, allocated));
                }
            });
            return extents;
        } finally {
            ioLock.readLock().unlock();
        }
    }

    /** Makes every write so far durable, with the revision counter. */
    public void flush() throws IOException {
        ioLock.readLock().lock();
        try {
            ensureOpen();
            if (readOnly) {
                return;
            }
            long r = revision.get();
            head.file.datasync();
            counter.persist(r);
        } finally {
            ioLock.readLock().unlock();
        }
    }

    // ---- epoch and revision ----

    /** The highest epoch this replica has accepted (durably). */
    public long epoch() {
        return meta.epoch();
    }

    /** Persists {@code epoch} as the highest accepted; refuses one lower than the current. */
    public void acceptEpoch(long epoch) throws IOException {
        ensureWritable();
        synchronized (metaLock) {
            long current = meta.epoch();
            if (epoch < current) {
                throw new StaleEpochException(epoch, current);
            }
            if (epoch > current) {
                commit(meta.withEpoch(epoch));
            }
        }
    }

    private void checkEpoch(long epoch) throws IOException {
        long current = meta.epoch();
        if (epoch == current) {
            return;
        }
        if (epoch < current) {
            throw new StaleEpochException(epoch, current);
        }
        acceptEpoch(epoch);
    }

    /** The write revision: one more for every write, trim or write-zeroes; durable at every flush. */
    public long revision() {
        return revision.get();
    }

    // ---- snapshots ----

    /** Takes a snapshot of the head (which includes a flush) and puts a new empty head on it. */
    public SnapshotInfo snapshot(String name, boolean userCreated, Map<String, String> labels) throws IOException {
        return snapshot(name, userCreated, labels, clock.instant());
    }

    /**
     * Takes a snapshot stamped {@code created} (to the second), so that an engine gives every replica's
     * copy of one snapshot the same time.
     */
    public SnapshotInfo snapshot(String name, boolean userCreated, Map<String, String> labels, Instant created)
            throws IOException {
        Names.require("snapshot name", name);
        if (HEAD_NAME.equals(name)) {
            throw new SnapshotException("'" + HEAD_NAME + "' is reserved for the head");
        }
        opLock.lock();
        try {
            ensureWritable();
            if (find(name) != null) {
                throw new SnapshotException("snapshot " + name + " already exists");
            }
            SnapshotInfo info;
            ioLock.writeLock().lock();
            try {
                info = snapshotLocked(name, userCreated, labels, created);
            } finally {
                ioLock.writeLock().unlock();
            }
            index.compact(); // beside I/O: the relabelled chunks shrink to their smallest form
            return info;
        } finally {
            opLock.unlock();
        }
    }

    private SnapshotInfo snapshotLocked(String name, boolean userCreated, Map<String, String> labels, Instant created)
            throws IOException {
        Layer old = head;
        old.file.datasync();
        counter.persist(revision.get());
        VolumeMeta m = meta;
        long snapId = m.nextLayerId();
        long headId = snapId + 1;
        LayerMeta snapMeta =
                new LayerMeta(name, created.truncatedTo(ChronoUnit.SECONDS).toString(), userCreated, labels, false);
        Layer snap = null;
        Layer newHead = null;
        try {
            Files.createLink(files.image(snapId), files.image(old.id));
            files.writeLayer(snapId, snapMeta);
            snap = new Layer(snapId, NativeFile.open(files.image(snapId), NativeFile.O_RDWR), snapMeta);
            newHead = createHead(headId);
            layers.put(snapId, snap); // readers resolve ids through layers: add before the commit names them
            layers.put(headId, newHead);
            Faults.at("snapshot.beforeCommit");
            List<VolumeMeta.Link> links = new ArrayList<>();
            for (VolumeMeta.Link l : m.layers()) {
                links.add(l.id() == old.id ? new VolumeMeta.Link(snapId, l.parent()) : l);
            }
            links.add(new VolumeMeta.Link(headId, snapId));
            commit(m.withLayers(headId, headId + 1, links));
        } catch (IOException e) {
            if (!mayHaveCommitted(e)) {
                layers.remove(snapId);
                layers.remove(headId);
                discard(snap, snapId);
                discard(newHead, headId);
            }
            throw NoSpace.classify(e, "snapshot " + name);
        } catch (RuntimeException e) {
            layers.remove(snapId);
            layers.remove(headId);
            discard(snap, snapId);
            discard(newHead, headId);
            throw e;
        }
        Faults.at("snapshot.afterCommit");
        layers.remove(old.id);
        closeQuietly(old);
        deleteQuietly(old.id);
        int slot = slots.length;
        Layer[] sl = Arrays.copyOf(slots, slot + 1);
        sl[slot] = snap;
        index.remapAll(v -> (v & HEAD) != 0 ? slot : v);
        slots = sl;
        head = newHead;
        return info(snap);
    }

    Layer createHead(long id) throws IOException {
        Path image = files.image(id);
        NativeFile f = NativeFile.open(image, NativeFile.O_RDWR | NativeFile.O_CREAT);
        try {
            f.truncate(size);
            LayerMeta m = new LayerMeta(null, now(clock), false, Map.of(), false);
            files.writeLayer(id, m);
            return new Layer(id, f, m);
        } catch (IOException | RuntimeException e) {
            closeQuietly(f);
            Files.deleteIfExists(image);
            throw e;
        }
    }

    void discard(Layer layer, long id) {
        if (layer != null) {
            closeQuietly(layer);
        }
        deleteQuietly(id);
    }

    /** Every snapshot (on every branch), oldest first. */
    public List<SnapshotInfo> snapshots() throws IOException {
        ensureOpen();
        List<SnapshotInfo> list = new ArrayList<>();
        VolumeMeta m = meta;
        for (VolumeMeta.Link link : m.layers()) {
            Layer l = layers.get(link.id());
            if (link.id() != m.head() && l != null) {
                list.add(info(l, m));
            }
        }
        return list;
    }

    /** Marks a snapshot removed; {@link #purge} reclaims its space. Removing it twice is not an error. */
    public void deleteSnapshot(String name) throws IOException {
        opLock.lock();
        try {
            ensureWritable();
            ensureNotRebuilding("delete a snapshot of");
            Layer l = require(name);
            if (!l.meta().removed()) {
                LayerMeta m = l.meta().asRemoved();
                files.writeLayer(l.id, m);
                l.meta(m);
            }
        } finally {
            opLock.unlock();
        }
    }

    /**
     * Puts a new empty head on snapshot {@code name}, discarding the current head; newer snapshots stay
     * as another branch.
     */
    public void revert(String name) throws IOException {
        opLock.lock();
        try {
            ensureWritable();
            ensureNotRebuilding("revert");
            Layer target = require(name);
            if (target.meta().removed()) {
                throw new SnapshotException("snapshot " + name + " is removed and cannot be reverted to");
            }
            ioLock.writeLock().lock();
            try {
                Layer old = head;
                VolumeMeta m = meta;
                long headId = m.nextLayerId();
                Layer newHead = createHead(headId);
                layers.put(headId, newHead);
                try {
                    Faults.at("revert.beforeCommit");
                    List<VolumeMeta.Link> links = new ArrayList<>();
                    for (VolumeMeta.Link l : m.layers()) {
                        if (l.id() != old.id) {
                            links.add(l);
                        }
                    }
                    links.add(new VolumeMeta.Link(headId, target.id));
                    commit(m.withLayers(headId, headId + 1, links));
                } catch (IOException | RuntimeException e) {
                    if (!mayHaveCommitted(e)) {
                        layers.remove(headId);
                        discard(newHead, headId);
                    }
                    throw e;
                }
                layers.remove(old.id);
                closeQuietly(old);
                deleteQuietly(old.id);
                head = newHead;
                rebuildIndexOrClose();
            } finally {
                ioLock.writeLock().unlock();
            }
        } finally {
            opLock.unlock();
        }
    }

    /** Grows the volume to {@code newSize} (a multiple of 4 KiB); the new range reads as zeros. */
    public void expand(long newSize) throws IOException {
        requireSize(newSize);
        opLock.lock();
        try {
            ensureWritable();
            ensureNotRebuilding("expand");
            if (newSize < size) {
                throw new IllegalArgumentException(
                        "cannot shrink the volume from " + size + " to " + newSize + " bytes: expansion only grows");
            }
            if (newSize == size) {
                return;
            }
            ioLock.writeLock().lock();
            try {
                head.file.truncate(newSize);
                head.file.datasync();
                Faults.at("expand.beforeCommit");
                commit(meta.withSize(newSize));
                Faults.at("expand.afterCommit");
                index.grow(newSize >>> SHIFT);
                size = newSize;
            } finally {
                ioLock.writeLock().unlock();
            }
        } finally {
            opLock.unlock();
        }
    }

    /**
     * Folds removed snapshots into their neighbours without changing what any read returns: a removed
     * leaf is deleted; a removed snapshot with one child snapshot is merged with it (the smaller file's
     * data is copied into the larger); a removed snapshot under the head keeps its place but gives up
     * the blocks the head overwrote. A removed snapshot with several children (a branch) is kept.
     *
     * @return the names of the snapshots that are gone
     */
    public List<String> purge() throws IOException {
        opLock.lock();
        try {
            ensureWritable();
            ensureNotRebuilding("purge");
            purgeLock.writeLock().lock();
            try {
                return new Purge(this).run();
            } finally {
                purgeLock.writeLock().unlock();
            }
        } finally {
            opLock.unlock();
        }
    }

    // ---- the engine's write-intent map ----

    /** Stores the engine's write-intent map durably (atomically replaced); the replica does not read it. */
    public void putIntent(byte[] map) throws IOException {
        ensureWritable();
        synchronized (metaLock) {
            files.writeAtomically(files.dir().resolve(ReplicaFiles.INTENT), map);
        }
    }

    /** The write-intent map last stored, or no bytes. */
    public byte[] intent() throws IOException {
        ensureOpen();
        Path file = files.dir().resolve(ReplicaFiles.INTENT);
        return Files.exists(file) ? Files.readAllBytes(file) : new byte[0];
    }

    // ---- rebuild (the target's side; see LayerSync) ----

    /** Whether this replica is the target of an unfinished rebuild, so its snapshots may be incomplete. */
    public boolean rebuilding() {
        return meta.rebuilding();
    }

    /**
     * Makes this replica the target of a rebuild from a replica whose snapshots are {@code source} (as
     * {@link #snapshots} lists them) and whose head sits on {@code headParent}. The layer tree becomes the
     * source's: a snapshot this replica already has (by name) is kept, with whatever data it holds, to be
     * corrected block by block; the lowest missing snapshot of the head's chain starts from the old head's
     * data (a returning replica's writes are mostly already there); other missing ones start empty; layers
     * the source lacks are dropped; the new head is empty. The replica is marked rebuilding (durably, so it
     * starts in ERR if the rebuild never finishes) and its revision counter is reset.
     */
    public void prepareRebuild(long epoch, List<SnapshotInfo> source, String headParent) throws IOException {
        opLock.lock();
        try {
            ensureWritable();
            checkEpoch(epoch);
            ioLock.writeLock().lock();
            try {
                new RebuildPlan(this, source, headParent).apply();
            } finally {
                ioLock.writeLock().unlock();
            }
        } finally {
            opLock.unlock();
        }
    }

    /** Called by {@link RebuildPlan} after its commit: the new head, a new revision, a new index. */
    void rebuildPrepared(Layer newHead) throws IOException {
        Set<Long> named = new HashSet<>();
        for (VolumeMeta.Link l : meta.layers()) {
            named.add(l.id());
        }
        for (Layer l : List.copyOf(layers.values())) {
            if (!named.contains(l.id)) {
                layers.remove(l.id);
                closeQuietly(l);
                deleteQuietly(l.id);
            }
        }
        head = newHead;
        revision.set(0);
        counter.persist(0);
        partials.clear();
        rebuildIndexOrClose();
    }

    /** {@value LayerSync#DIGEST} bytes per block of snapshot {@code layer}: a data digest, or zeros for a hole. */
    public byte[] layerDigests(String layer, long offset, int blocks) throws IOException {
        try (Pinned l = layerForSync(layer, offset, blocks)) {
            return LayerSync.digests(l.file(), offset, blocks);
        }
    }

    /** The {@code wanted} blocks of snapshot {@code layer} from {@code offset}: allocation and data. */
    public LayerBlocks readLayer(String layer, long offset, int blocks, java.util.BitSet wanted) throws IOException {
        try (Pinned l = layerForSync(layer, offset, blocks)) {
            return LayerSync.read(layer, l.file(), offset, blocks, wanted);
        }
    }

    /**
     * Reads the {@code wanted} blocks that snapshot {@code layer} holds in the range into {@code dst} (block
     * {@code i} at {@code i} × 4 KiB) and returns which those were; the rest of {@code dst} is untouched.
     */
    public java.util.BitSet readLayerInto(
            String layer, long offset, int blocks, java.util.BitSet wanted, java.lang.foreign.MemorySegment dst)
            throws IOException {
        try (Pinned l = layerForSync(layer, offset, blocks)) {
            return LayerSync.readInto(l.file(), offset, blocks, wanted, dst);
        }
    }

    /** {@link #readLayer}'s blocks already encoded, in a buffer from {@code pool} (close the lease after use). */
    public io.bighorn.common.BufferPool.Lease readLayerEncoded(
            String layer, long offset, int blocks, java.util.BitSet wanted, io.bighorn.common.BufferPool pool)
            throws IOException {
        try (Pinned l = layerForSync(layer, offset, blocks)) {
            return LayerSync.readEncoded(layer, l.file(), offset, blocks, wanted, pool);
        }
    }

    /** Writes blocks of a snapshot read from a rebuild's source; only while this replica is rebuilding. */
    public void writeLayer(long epoch, LayerBlocks blocks) throws IOException {
        ensureWritable();
        checkEpoch(epoch);
        if (!meta.rebuilding()) {
            throw new IllegalStateException(
                    "replica " + files.dir() + " is not being rebuilt: its snapshots cannot be written");
        }
        try (Pinned l = layerForSync(blocks.layer(), blocks.offset(), blocks.blocks())) {
            LayerSync.write(l.file(), blocks);
        } catch (IOException e) {
            throw NoSpace.classify(e, "rebuilding snapshot " + blocks.layer());
        }
    }

    /**
     * The blocks that took a partial write or zeroing while rebuilding, whose other bytes were guessed
     * from incomplete layers; each is forgotten once taken. An engine rewrites them whole, from a healthy
     * replica, with I/O drained.
     */
    public long[] takePartialBlocks() {
        long[] taken = partials.stream().mapToLong(Long::longValue).sorted().toArray();
        for (long b : taken) {
            partials.remove(b);
        }
        return taken;
    }

    /**
     * Makes every layer durable, without stopping I/O: a rebuild calls it before {@link #finishRebuild},
     * which syncs again with I/O drained and then has little left to write.
     */
    public void syncLayers() throws IOException {
        ensureOpen();
        for (Layer l : layers.values()) {
            l.file.datasync();
        }
    }

    /**
     * Ends a rebuild: makes every layer durable, clears the rebuilding mark and takes the source's
     * {@code revision}. Finishing a replica that is not rebuilding does nothing.
     */
    public void finishRebuild(long epoch, long revision) throws IOException {
        opLock.lock();
        try {
            ensureWritable();
            checkEpoch(epoch);
            if (!meta.rebuilding()) {
                return;
            }
            ioLock.writeLock().lock();
            try {
                for (Layer l : layers.values()) {
                    l.file.datasync();
                }
                commit(meta.withRebuilding(false));
                this.revision.set(revision);
                counter.persist(revision);
                partials.clear();
                rebuildIndexOrClose();
            } finally {
                ioLock.writeLock().unlock();
            }
        } finally {
            opLock.unlock();
        }
    }

    /** A layer pinned for a call made outside the replica's locks: its file stays open until closed. */
    private record Pinned(Layer layer) implements AutoCloseable {
        NativeFile file() {
            return layer.file;
        }

        @Override
        public void close() {
            layer.unpin();
        }
    }

    /**
     * Snapshot {@code name}, pinned: these calls run beside chain changes, and a purge that merges the
     * snapshot closes its old layer, whose descriptor a read must never use after (or, reused, read
     * another file through). A layer retired between the lookup and the pin is looked up again.
     */
    private Pinned layerForSync(String name, long offset, int blocks) throws IOException {
        if (blocks < 1 || blocks > LayerBlocks.MAX_BLOCKS) {
            throw new IllegalArgumentException("between 1 and " + LayerBlocks.MAX_BLOCKS + " blocks, not " + blocks);
        }
        OutOfRangeException.check(offset, (long) blocks * BLOCK, size, BLOCK);
        while (true) {
            ensureOpen();
            Layer l = require(name);
            if (l.pin()) {
                return new Pinned(l);
            }
            Thread.onSpinWait();
        }
    }

    // ---- inspection ----

    /** The replica's size, counters, chain, layers with their allocated bytes, and index RAM. */
    public ReplicaInfo info() throws IOException {
        ensureOpen();
        VolumeMeta m = meta;
        List<String> chain = new ArrayList<>();
        for (long id : m.chainTo(m.head())) {
            chain.add(nameOf(id, m));
        }
        List<ReplicaInfo.LayerInfo> infos = new ArrayList<>();
        for (VolumeMeta.Link link : m.layers()) {
            Layer l = layers.get(link.id());
            if (l == null) {
                continue;
            }
            infos.add(new ReplicaInfo.LayerInfo(
                    l.name(),
                    files.image(l.id).getFileName().toString(),
                    l.allocatedBytes(),
                    l.meta().removed(),
                    link.id() == m.head()));
        }
        return new ReplicaInfo(
                files.dir().toString(),
                size,
                m.epoch(),
                revision.get(),
                chain,
                infos,
                index.ramBytes(),
                m.rebuilding());
    }

    private SnapshotInfo info(Layer l) throws IOException {
        return info(l, meta);
    }

    private String nameOf(long id, VolumeMeta m) {
        Layer l = layers.get(id);
        return l != null ? l.name() : id == m.head() ? HEAD_NAME : "layer-" + id;
    }

    private SnapshotInfo info(Layer l, VolumeMeta m) throws IOException {
        long parent = m.parentOf(l.id);
        List<String> children = new ArrayList<>();
        for (long c : m.childrenOf(l.id)) {
            children.add(nameOf(c, m));
        }
        LayerMeta lm = l.meta();
        return new SnapshotInfo(
                lm.name(),
                parent == 0 ? null : nameOf(parent, m),
                children,
                Instant.parse(lm.created()),
                l.allocatedBytes(),
                lm.removed(),
                lm.userCreated(),
                lm.labels());
    }

    // ---- internals shared with Purge ----

    ReplicaFiles files() {
        return files;
    }

    VolumeMeta meta() {
        return meta;
    }

    Layer head() {
        return head;
    }

    Layer layer(long id) {
        return layers.get(id);
    }

    BlockMap index() {
        return index;
    }

    Layer[] slots() {
        return slots;
    }

    RwLock ioLock() {
        return ioLock;
    }

    /**
     * Commits a new {@code volume.json}; the one point at which a chain change takes effect. Chain
     * operations build {@code next} from the chain (which only they change, one at a time); the epoch,
     * which a write may raise at any moment, is taken as the higher of {@code next}'s and the current.
     * When the commit's outcome is uncertain the replica closes itself.
     */
    void commit(VolumeMeta next) throws IOException {
        synchronized (metaLock) {
            VolumeMeta merged = next.withEpoch(Math.max(next.epoch(), meta.epoch()));
            try {
                files.writeVolume(merged);
            } catch (CommitUncertainException e) {
                closed = true;
                throw e;
            }
            meta = merged;
        }
    }

    /** Whether a failed commit may still have taken effect, so that the files it names must stay. */
    static boolean mayHaveCommitted(Throwable e) {
        return e instanceof CommitUncertainException;
    }

    void addLayer(Layer layer) {
        layers.put(layer.id, layer);
    }

    void removeLayer(long id) {
        layers.remove(id);
    }

    /** Swaps merged layers into memory after a purge commit: {@code gone} ids now read from {@code merged}. */
    void replaceLayers(Set<Long> gone, Layer merged) {
        Layer[] sl = slots.clone();
        for (int i = 1; i < sl.length; i++) {
            if (sl[i] != null && gone.contains(sl[i].id)) {
                sl[i] = merged;
            }
        }
        slots = sl;
        for (long id : gone) {
            Layer l = layers.remove(id);
            if (l != null) {
                closeQuietly(l);
            }
            deleteQuietly(id);
        }
        if (merged != null) {
            layers.put(merged.id, merged);
        }
    }

    private void rebuildIndex() throws IOException {
        VolumeMeta m = meta;
        List<Long> chain = m.chainTo(m.head());
        BlockMap map = new BlockMap(size >>> SHIFT);
        Layer[] sl = new Layer[chain.size()];
        for (int i = 0; i + 1 < chain.size(); i++) {
            int slot = i + 1;
            Layer l = layers.get(chain.get(i));
            sl[slot] = l;
            Extents.forEach(l.file, size, (from, to) -> map.set(from >>> SHIFT, blocksUpTo(to), slot));
        }
        Extents.forEach(head.file, size, (from, to) -> map.update(from >>> SHIFT, blocksUpTo(to), Replica::setHead));
        map.compact();
        index = map;
        slots = sl;
    }

    private void rebuildIndexOrClose() throws IOException {
        try {
            rebuildIndex();
        } catch (IOException | RuntimeException e) {
            closed = true;
            throw new IOException(
                    "replica " + files.dir() + " could not rebuild its index and was closed; reopen it", e);
        }
    }

    Layer find(String name) {
        for (Layer l : layers.values()) {
            if (l != head && name.equals(l.meta().name())) {
                return l;
            }
        }
        return null;
    }

    private Layer require(String name) {
        Layer l = find(name);
        if (l == null) {
            throw new SnapshotException("no snapshot named '" + name + "' in replica " + files.dir());
        }
        return l;
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new IOException("replica " + files.dir() + " is closed");
        }
    }

    private void ensureWritable() throws IOException {
        ensureOpen();
        if (readOnly) {
            throw new IOException("replica " + files.dir() + " is open read-only");
        }
    }

    /** Chain changes other than a snapshot would change the layers a rebuild is copying. */
    private void ensureNotRebuilding(String op) {
        if (meta.rebuilding()) {
            throw new IllegalStateException("cannot " + op + " replica " + files.dir() + " while it is being rebuilt");
        }
    }

    private void deleteQuietly(long id) {
        try {
            files.deleteLayer(id);
        } catch (IOException e) {
            log.warn("{}: could not delete layer {} (deleted at next open): {}", files.dir(), id, e.toString());
        }
    }

    static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            log.warn("close failed: {}", e.toString());
        }
    }

    static void requireSize(long size) {
        if (size <= 0 || size % BLOCK != 0 || size > MAX_SIZE) {
            throw new IllegalArgumentException(
                    "invalid volume size " + size + ": it must be a positive multiple of 4096 up to " + MAX_SIZE);
        }
    }

    private static int setHead(int v) {
        return v | HEAD;
    }

    private static long roundUp(long offset) {
        return (offset + BLOCK - 1) & -BLOCK;
    }

    private static long blocksUpTo(long end) {
        return (end + BLOCK - 1) >>> SHIFT;
    }

    private static String now(Clock clock) {
        return clock.instant().truncatedTo(ChronoUnit.SECONDS).toString();
    }

    static Set<Long> setOf(long... ids) {
        Set<Long> s = new HashSet<>();
        for (long id : ids) {
            s.add(id);
        }
        return s;
    }
}
