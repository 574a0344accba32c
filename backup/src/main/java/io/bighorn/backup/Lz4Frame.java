package io.bighorn.backup;

import java.io.IOException;
import java.util.Arrays;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;
import net.jpountz.xxhash.XXHash32;
import net.jpountz.xxhash.XXHashFactory;

/**
 * The LZ4 frame format, written and read in one pass over whole arrays (the stream classes allocate and
 * copy per frame, which costs more than the compression of a 2 MiB block). Written: version 01,
 * independent blocks of at most 4 MiB, no checksums (the block's name is the SHA-512 of its data, checked
 * on restore), each block stored raw when it does not shrink. Read: any frame without a dictionary, with
 * or without block and content checksums and content size (the checksums are skipped); a frame of
 * dependent blocks only when it has one block (a 2 MiB backup block in 4 MiB frame blocks always has).
 */
final class Lz4Frame {
    static final int MAGIC = 0x184D2204;
    private static final int MAX_BLOCK = 4 << 20;
    private static final LZ4Compressor COMPRESSOR = LZ4Factory.fastestInstance().fastCompressor();
    private static final LZ4SafeDecompressor DECOMPRESSOR =
            LZ4Factory.fastestInstance().safeDecompressor();
    private static final XXHash32 XXHASH = XXHashFactory.fastestInstance().hash32();
    private static final byte FLG = 0x60; // version 01, independent blocks
    private static final byte BD = 0x70; // 4 MiB blocks
    private static final byte HC = (byte) ((XXHASH.hash(new byte[] {FLG, BD}, 0, 2, 0) >> 8) & 0xff);

    private Lz4Frame() {}

    /** The most bytes {@link #encode(byte[], int, byte[])} writes for {@code length} bytes of data. */
    static int maxEncodedLength(int length) {
        int bound = 7 + 4;
        for (int from = 0; from < length; from += MAX_BLOCK) {
            bound += 4 + COMPRESSOR.maxCompressedLength(Math.min(MAX_BLOCK, length - from));
        }
        return bound;
    }

    static byte[] encode(byte[] data, int length) {
        byte[] out = new byte[maxEncodedLength(length)];
        return Arrays.copyOf(out, encode(data, length, out));
    }

    /** Writes the frame of {@code data[0, length)} at the start of {@code out}; the frame's length. */
    static int encode(byte[] data, int length, byte[] out) {
        if (out.length < maxEncodedLength(length)) {
            throw new IllegalArgumentException("an LZ4 frame of " + length + " bytes may need "
                    + maxEncodedLength(length) + " bytes, more than " + out.length);
        }
        putInt(out, 0, MAGIC);
        out[4] = FLG;
        out[5] = BD;
        out[6] = HC;
        int at = 7;
        for (int from = 0; from < length; from += MAX_BLOCK) {
            int n = Math.min(MAX_BLOCK, length - from);
            int c = COMPRESSOR.compress(data, from, n, out, at + 4, out.length - at - 4);
            if (c >= n) {
                putInt(out, at, n | 0x80000000);
                System.arraycopy(data, from, out, at + 4, n);
                at += 4 + n;
            } else {
                putInt(out, at, c);
                at += 4 + c;
            }
        }
        putInt(out, at, 0);
        return at + 4;
    }

    /** Decodes {@code in} into {@code dst}; the number of bytes. */
    static int decode(byte[] in, byte[] dst) throws IOException {
        if (in.length < 7 || getInt(in, 0) != MAGIC) {
            throw new IOException("not an LZ4 frame");
        }
        int flg = in[4] & 0xff;
        if ((flg >> 6) != 1 || (flg & 1) != 0) {
            throw new IOException("unsupported LZ4 frame flags " + Integer.toHexString(flg));
        }
        boolean independent = (flg & 0x20) != 0;
        boolean blockChecksum = (flg & 0x10) != 0;
        boolean contentSize = (flg & 0x08) != 0;
        int at = 6 + (contentSize ? 8 : 0);
        if (in.length < at + 1) {
            throw new IOException("truncated LZ4 frame header");
        }
        int hc = (XXHASH.hash(in, 4, at - 4, 0) >> 8) & 0xff;
        if (hc != (in[at] & 0xff)) {
            throw new IOException("bad LZ4 frame header checksum");
        }
        at++;
        int out = 0;
        while (true) {
            if (at + 4 > in.length) {
                throw new IOException("truncated LZ4 frame");
            }
            int size = getInt(in, at);
            at += 4;
            if (size == 0) {
                return out;
            }
            if (out > 0 && !independent) {
                throw new IOException("LZ4 frames of dependent blocks are not supported");
            }
            boolean raw = (size & 0x80000000) != 0;
            size &= 0x7fffffff;
            if (size > in.length - at) {
                throw new IOException("truncated LZ4 block");
            }
            if (raw) {
                if (size > dst.length - out) {
                    throw new IOException("the LZ4 frame holds more than " + dst.length + " bytes");
                }
                System.arraycopy(in, at, dst, out, size);
                out += size;
            } else {
                try {
                    out += DECOMPRESSOR.decompress(in, at, size, dst, out, dst.length - out);
                } catch (LZ4Exception e) {
                    throw new IOException("corrupt LZ4 block: " + e.getMessage(), e);
                }
            }
            at += size + (blockChecksum ? 4 : 0);
        }
    }

    private static void putInt(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >> 8);
        b[at + 2] = (byte) (v >> 16);
        b[at + 3] = (byte) (v >> 24);
    }

    private static int getInt(byte[] b, int at) {
        return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8 | (b[at + 2] & 0xff) << 16 | (b[at + 3] & 0xff) << 24;
    }
}
