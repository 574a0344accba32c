package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * The durable write revision counter ({@code revision.counter}). Two 4 KiB slots are written in turn, each
 * holding a magic, the value and a CRC32C, so a torn write of one slot leaves the other readable.
 */
final class RevisionCounter implements AutoCloseable {
    private static final long MAGIC = 0x4248_5245_5643_4e54L; // "BHREVCNT"
    private static final int SLOT = 4096;

    private final Path path;
    private final FileChannel channel;
    private long persisted;
    private int nextSlot;

    private RevisionCounter(Path path, FileChannel channel, long persisted, int nextSlot) {
        this.path = path;
        this.channel = channel;
        this.persisted = persisted;
        this.nextSlot = nextSlot;
    }

    static void create(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(
                path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ch.write(slot(0), 0);
            ch.write(slot(0), SLOT);
            ch.force(true);
        }
    }

    static RevisionCounter open(Path path, boolean readOnly) throws IOException {
        FileChannel ch = readOnly
                ? FileChannel.open(path, StandardOpenOption.READ)
                : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            long a = readSlot(ch, 0);
            long b = readSlot(ch, SLOT);
            if (a < 0 && b < 0) {
                throw new CorruptMetadataException(path, "no valid revision counter slot");
            }
            return a >= b ? new RevisionCounter(path, ch, a, 1) : new RevisionCounter(path, ch, b, 0);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    long persisted() {
        return persisted;
    }

    /** Makes {@code value} durable unless it, or a higher value, already is. */
    synchronized void persist(long value) throws IOException {
        if (value <= persisted) { // a flush that read the counter earlier than another must not lower it
            return;
        }
        try {
            channel.write(slot(value), (long) nextSlot * SLOT);
            channel.force(false);
        } catch (IOException e) {
            throw NoSpace.classify(e, "writing " + path);
        }
        persisted = value;
        nextSlot ^= 1;
    }

    private static ByteBuffer slot(long value) {
        ByteBuffer buf = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(MAGIC).putLong(value);
        CRC32C crc = new CRC32C();
        crc.update(buf.array(), 0, 16);
        buf.putLong(crc.getValue());
        return buf.flip();
    }

    private static long readSlot(FileChannel ch, long at) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        while (buf.hasRemaining()) {
            if (ch.read(buf, at + buf.position()) < 0) {
                return -1;
            }
        }
        buf.flip();
        long magic = buf.getLong();
        long value = buf.getLong();
        CRC32C crc = new CRC32C();
        crc.update(buf.array(), 0, 16);
        return magic == MAGIC && buf.getLong() == crc.getValue() ? value : -1;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
