package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.BitSet;
import java.util.zip.CRC32C;

/**
 * Some 4 KiB blocks of one layer file, as a rebuild moves them from a source replica to a target: of the
 * {@code blocks} blocks from {@code offset}, those in {@code wanted} are meant; of those, the ones in
 * {@code allocated} hold data (packed in {@code data}, in block order) and the others are holes. A target
 * writes the data and punches the holes, so the layer ends with the source's allocation exactly.
 *
 * <p>{@link #encode} appends a CRC32C of everything before it, and {@link #decode} refuses a payload whose
 * checksum does not match, so a block damaged in transit is never written.
 */
@SuppressWarnings("ArrayRecordComponent") // a transfer buffer, never compared
public record LayerBlocks(String layer, long offset, int blocks, BitSet wanted, BitSet allocated, byte[] data) {
    /** The most blocks one transfer carries: 4 MiB. */
    public static final int MAX_BLOCKS = 1024;

    public LayerBlocks {
        if (blocks < 1 || blocks > MAX_BLOCKS || offset < 0 || offset % Replica.BLOCK != 0) {
            throw new IllegalArgumentException(
                    "bad block range: " + blocks + " blocks at " + offset + " (1 to " + MAX_BLOCKS + ", aligned)");
        }
        BitSet present = (BitSet) allocated.clone();
        present.and(wanted);
        if (!present.equals(allocated) || wanted.length() > blocks) {
            throw new IllegalArgumentException("allocated blocks outside the wanted ones");
        }
        if (data.length != (long) allocated.cardinality() * Replica.BLOCK) {
            throw new IllegalArgumentException(
                    data.length + " bytes of data for " + allocated.cardinality() + " allocated blocks");
        }
    }

    /** The bytes of data this carries. */
    public long dataBytes() {
        return data.length;
    }

    /** name length, name, offset, blocks, wanted and allocated bitmaps, data, CRC32C. */
    public byte[] encode() {
        byte[] name = layer.getBytes(StandardCharsets.UTF_8);
        int words = words(blocks);
        ByteBuffer buf = ByteBuffer.allocate(2 + name.length + 8 + 4 + 16 * words + data.length + 4);
        buf.putShort((short) name.length).put(name).putLong(offset).putInt(blocks);
        putBits(buf, wanted, words);
        putBits(buf, allocated, words);
        buf.put(data);
        CRC32C crc = new CRC32C();
        crc.update(buf.array(), 0, buf.position());
        buf.putInt((int) crc.getValue());
        return buf.array();
    }

    /** Decodes and checks {@link #encode}'s bytes. */
    public static LayerBlocks decode(byte[] bytes) throws IOException {
        try {
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            CRC32C crc = new CRC32C();
            crc.update(bytes, 0, bytes.length - 4);
            int expected = buf.getInt(bytes.length - 4);
            if ((int) crc.getValue() != expected) {
                throw new IOException("layer blocks damaged in transit: checksum mismatch");
            }
            byte[] name = new byte[buf.getShort() & 0xffff];
            buf.get(name);
            long offset = buf.getLong();
            int blocks = buf.getInt();
            if (blocks < 1 || blocks > MAX_BLOCKS) {
                throw new IOException("bad layer blocks: " + blocks + " blocks");
            }
            int words = words(blocks);
            BitSet wanted = getBits(buf, words);
            BitSet allocated = getBits(buf, words);
            byte[] data = new byte[buf.remaining() - 4];
            buf.get(data);
            return new LayerBlocks(new String(name, StandardCharsets.UTF_8), offset, blocks, wanted, allocated, data);
        } catch (RuntimeException e) {
            throw new IOException("malformed layer blocks: " + e.getMessage(), e);
        }
    }

    private static int words(int blocks) {
        return (blocks + 63) / 64;
    }

    private static void putBits(ByteBuffer buf, BitSet bits, int words) {
        long[] w = bits.toLongArray();
        for (int i = 0; i < words; i++) {
            buf.putLong(i < w.length ? w[i] : 0);
        }
    }

    private static BitSet getBits(ByteBuffer buf, int words) {
        long[] w = new long[words];
        for (int i = 0; i < words; i++) {
            w[i] = buf.getLong();
        }
        return BitSet.valueOf(w);
    }
}
