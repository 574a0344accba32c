package io.bighorn.backup;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * How a backup's blocks are stored: Longhorn's three methods. {@code lz4} is the LZ4 <em>frame</em> format
 * (magic {@code 04 22 4D 18}), {@code gzip} a gzip member, {@code none} the raw bytes. Reading falls back
 * between lz4 and gzip when the bytes carry the other one's magic, as Longhorn's restore does.
 */
enum Compression {
    LZ4("lz4"),
    GZIP("gzip"),
    NONE("none");

    private static final int LZ4_MAGIC = 0x184D2204;

    final String id;

    Compression(String id) {
        this.id = id;
    }

    /** The method named {@code id}; an empty name is gzip, as in Longhorn's oldest backups. */
    static Compression of(String id) {
        if (id == null || id.isEmpty()) {
            return GZIP;
        }
        for (Compression c : values()) {
            if (c.id.equals(id)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown compression method '" + id + "': use lz4, gzip or none");
    }

    /** Stored bytes: the first {@code length} of {@code bytes}. */
    record Stored(byte[] bytes, int length) {}

    /**
     * Compresses {@code data[0, length)} without allocating where the method allows: LZ4 writes into {@code
     * scratch} (at least {@link #scratchSize} bytes), none answers {@code data} itself, gzip a new array.
     * The answer is valid until {@code data} or {@code scratch} is reused.
     */
    Stored compress(byte[] data, int length, byte[] scratch) throws IOException {
        return switch (this) {
            case NONE -> new Stored(data, length);
            case LZ4 -> new Stored(scratch, Lz4Frame.encode(data, length, scratch));
            case GZIP -> {
                byte[] b = compress(data, length);
                yield new Stored(b, b.length);
            }
        };
    }

    /** The scratch buffer {@link #compress(byte[], int, byte[])} needs for blocks of {@code length}. */
    static int scratchSize(int length) {
        return Lz4Frame.maxEncodedLength(length);
    }

    byte[] compress(byte[] data, int length) throws IOException {
        if (this == NONE) {
            return java.util.Arrays.copyOf(data, length);
        }
        if (this == LZ4) {
            return Lz4Frame.encode(data, length);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(64, length / 2));
        try (OutputStream c = new GZIPOutputStream(out, 64 << 10)) {
            c.write(data, 0, length);
        }
        return out.toByteArray();
    }

    /** Decompresses {@code stored} into {@code dst}, returning the number of bytes; at most dst.length. */
    int decompress(byte[] stored, byte[] dst) throws IOException {
        Compression actual = this;
        if (this != NONE) {
            if (hasLz4Magic(stored)) {
                actual = LZ4;
            } else if (stored.length >= 2 && (stored[0] & 0xff) == 0x1f && (stored[1] & 0xff) == 0x8b) {
                actual = GZIP;
            }
        }
        if (actual == NONE) {
            if (stored.length > dst.length) {
                throw new IOException(stored.length + " bytes stored, more than a block of " + dst.length);
            }
            System.arraycopy(stored, 0, dst, 0, stored.length);
            return stored.length;
        }
        if (actual == LZ4) {
            try {
                return Lz4Frame.decode(stored, dst);
            } catch (IOException e) {
                throw new IOException("cannot decompress lz4 data: " + e.getMessage(), e);
            }
        }
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(stored), 64 << 10)) {
            int n = in.readNBytes(dst, 0, dst.length);
            if (in.read() >= 0) {
                throw new IOException("the block decompresses to more than " + dst.length + " bytes");
            }
            return n;
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot decompress " + actual.id + " data: " + e.getMessage(), e);
        }
    }

    static boolean hasLz4Magic(byte[] b) {
        return b.length >= 4
                && ((b[0] & 0xff) | (b[1] & 0xff) << 8 | (b[2] & 0xff) << 16 | (b[3] & 0xff) << 24) == LZ4_MAGIC;
    }
}
