package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.BitSet;
import java.util.zip.CRC32C;

/**
 * Some 4 KiB blocks of one layer file, as a rebuild moves them from a source replica to a target: of the
 * {@code blocks} blocks from {@code offset}, those in {@code wanted} are meant; of those, the ones in
 * {@code allocated} hold data (packed, in block order) and the others are holes. A target writes the data
 * and punches the holes, so the layer ends with the source's allocation exactly.
 *
 * <p>It lives in its encoded form, one array or native buffer: name length, name, offset, blocks, the
 * wanted and allocated bitmaps, the data, and a CRC32C of everything before it. {@link #decode} checks the
 * checksum and keeps the memory, so an engine relays a source's blocks to a target without copying them,
 * a rebuild target writes them from the buffer its source's reply arrived in, and a block damaged in
 * transit is never written.
 */
public final class LayerBlocks {
    /** The most blocks one transfer carries: 8 MiB. */
    public static final int MAX_BLOCKS = 2048;

    private final String layer;
    private final long offset;
    private final int blocks;
    private final BitSet wanted;
    private final BitSet allocated;
    private final MemorySegment encoded;
    private final byte[] array; // the encoded form's array, null when it lives in native memory
    private final int dataOffset;

    private LayerBlocks(
            String layer,
            long offset,
            int blocks,
            BitSet wanted,
            BitSet allocated,
            MemorySegment encoded,
            byte[] array,
            int dataOffset) {
        if (blocks < 1 || blocks > MAX_BLOCKS || offset < 0 || offset % Replica.BLOCK != 0) {
            throw new IllegalArgumentException(
                    "bad block range: " + blocks + " blocks at " + offset + " (1 to " + MAX_BLOCKS + ", aligned)");
        }
        BitSet present = (BitSet) allocated.clone();
        present.and(wanted);
        if (!present.equals(allocated) || wanted.length() > blocks) {
            throw new IllegalArgumentException("allocated blocks outside the wanted ones");
        }
        if (encoded.byteSize() - 4 - dataOffset != (long) allocated.cardinality() * Replica.BLOCK) {
            throw new IllegalArgumentException((encoded.byteSize() - 4 - dataOffset) + " bytes of data for "
                    + allocated.cardinality() + " allocated blocks");
        }
        this.layer = layer;
        this.offset = offset;
        this.blocks = blocks;
        this.wanted = wanted;
        this.allocated = allocated;
        this.encoded = encoded;
        this.array = array;
        this.dataOffset = dataOffset;
    }

    /** Writes the header and bitmaps of a transfer into a fresh array with room for the data after them. */
    static final class Builder {
        final byte[] encoded;
        final int dataOffset;
        private final String layer;
        private final long offset;
        private final int blocks;
        private final BitSet wanted;
        private final BitSet allocated;

        Builder(String layer, long offset, int blocks, BitSet wanted, BitSet allocated) {
            byte[] head = header(layer, offset, blocks, wanted, allocated);
            this.dataOffset = head.length;
            this.encoded = new byte[dataOffset + allocated.cardinality() * Replica.BLOCK + 4];
            System.arraycopy(head, 0, encoded, 0, head.length);
            this.layer = layer;
            this.offset = offset;
            this.blocks = blocks;
            this.wanted = wanted;
            this.allocated = allocated;
        }

        /** The data area, to be filled with the allocated blocks in order before {@link #build}. */
        MemorySegment data() {
            return MemorySegment.ofArray(encoded).asSlice(dataOffset, encoded.length - 4 - dataOffset);
        }

        LayerBlocks build() {
            CRC32C crc = new CRC32C();
            crc.update(encoded, 0, encoded.length - 4);
            ByteBuffer.wrap(encoded).putInt(encoded.length - 4, (int) crc.getValue());
            return new LayerBlocks(
                    layer, offset, blocks, wanted, allocated, MemorySegment.ofArray(encoded), encoded, dataOffset);
        }
    }

    /**
     * The encoded form's start: name, offset, block count and both bitmaps. The data (the allocated blocks,
     * packed) follows, then a CRC32C of everything before it; {@link #decode} reads the whole.
     */
    static byte[] header(String layer, long offset, int blocks, BitSet wanted, BitSet allocated) {
        byte[] name = layer.getBytes(StandardCharsets.UTF_8);
        int words = words(blocks);
        ByteBuffer buf = ByteBuffer.allocate(2 + name.length + 8 + 4 + 16 * words);
        buf.putShort((short) name.length).put(name).putLong(offset).putInt(blocks);
        putBits(buf, wanted, words);
        putBits(buf, allocated, words);
        return buf.array();
    }

    /** Blocks from their parts ({@code data}: the allocated blocks, packed). */
    public static LayerBlocks of(String layer, long offset, int blocks, BitSet wanted, BitSet allocated, byte[] data) {
        if (blocks < 1 || blocks > MAX_BLOCKS) {
            throw new IllegalArgumentException("bad block range: " + blocks + " blocks (1 to " + MAX_BLOCKS + ")");
        }
        Builder b = new Builder(layer, offset, blocks, wanted, allocated);
        if (data.length != b.data().byteSize()) {
            throw new IllegalArgumentException(
                    data.length + " bytes of data for " + allocated.cardinality() + " allocated blocks");
        }
        b.data().copyFrom(MemorySegment.ofArray(data));
        return b.build();
    }

    public String layer() {
        return layer;
    }

    public long offset() {
        return offset;
    }

    public int blocks() {
        return blocks;
    }

    public BitSet wanted() {
        return (BitSet) wanted.clone();
    }

    public BitSet allocated() {
        return (BitSet) allocated.clone();
    }

    /** The bytes of data this carries. */
    public long dataBytes() {
        return encoded.byteSize() - 4L - dataOffset;
    }

    /** The data, packed, as a view of the encoded form. */
    public MemorySegment data() {
        return encoded.asSlice(dataOffset, dataBytes());
    }

    /** The encoded form (for one built or decoded from an array, that array: do not change it). */
    public byte[] encode() {
        return array != null ? array : encoded.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    /** Decodes and checks {@link #encode}'s bytes, keeping the array. */
    public static LayerBlocks decode(byte[] bytes) throws IOException {
        return decode(MemorySegment.ofArray(bytes), bytes);
    }

    /**
     * Decodes and checks an encoded form in any memory, as a view of it: valid while that memory is (a
     * pooled buffer's lease, say).
     */
    public static LayerBlocks decode(MemorySegment encoded) throws IOException {
        return decode(encoded, null);
    }

    private static LayerBlocks decode(MemorySegment bytes, byte[] array) throws IOException {
        try {
            if (bytes.byteSize() < 4 || bytes.byteSize() > Integer.MAX_VALUE) {
                throw new IOException("bad layer blocks: " + bytes.byteSize() + " bytes");
            }
            int size = (int) bytes.byteSize();
            ByteBuffer buf = bytes.asByteBuffer();
            CRC32C crc = new CRC32C();
            crc.update(bytes.asSlice(0, size - 4).asByteBuffer());
            if ((int) crc.getValue() != buf.getInt(size - 4)) {
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
            return new LayerBlocks(
                    new String(name, StandardCharsets.UTF_8),
                    offset,
                    blocks,
                    wanted,
                    allocated,
                    bytes,
                    array,
                    buf.position());
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
