package io.bighorn.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.dataplane.blockdev.BlockDevice.Extent;
import io.bighorn.nbd.Options.InvalidOption;
import io.bighorn.nbd.Request.Rejection;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Option parsing, request decoding and checking, and reply encoding, byte by byte. */
class CodecTest {
    private static final long SIZE = 1L << 20;

    @Test
    void parsesInfoRequests() throws Exception {
        Options.InfoRequest r = Options.parseInfo(RawClient.infoData("vol0", 3, 1));
        assertThat(r.name()).isEqualTo("vol0");
        assertThat(r.infos()).containsExactly(3, 1);
        assertThat(Options.parseInfo(RawClient.infoData("")).name()).isEmpty();
    }

    @Test
    void refusesMalformedInfoRequests() {
        byte[] good = RawClient.infoData("vol0", 3);
        assertThatThrownBy(() -> Options.parseInfo(new byte[3])).isInstanceOf(InvalidOption.class);
        // Count says 1 request but two follow; or the data ends early.
        byte[] extra = ByteBuffer.allocate(good.length + 2).put(good).array();
        assertThatThrownBy(() -> Options.parseInfo(extra)).hasMessageContaining("does not match");
        assertThatThrownBy(() -> Options.parseInfo(Arrays.copyOf(good, good.length - 1)))
                .isInstanceOf(InvalidOption.class);
        // Name length past the data, negative (huge unsigned), or over 4096.
        assertThatThrownBy(() ->
                        Options.parseInfo(ByteBuffer.allocate(8).putInt(100).array()))
                .hasMessageContaining("runs past");
        assertThatThrownBy(() ->
                        Options.parseInfo(ByteBuffer.allocate(8).putInt(-1).array()))
                .hasMessageContaining("too long");
        assertThatThrownBy(() ->
                        Options.parseInfo(ByteBuffer.allocate(5000).putInt(4097).array()))
                .hasMessageContaining("too long");
        // Invalid UTF-8 and NUL.
        byte[] bad = ByteBuffer.allocate(8)
                .putInt(2)
                .put((byte) 0xc3)
                .put((byte) 0x28)
                .putShort((short) 0)
                .array();
        assertThatThrownBy(() -> Options.parseInfo(bad)).hasMessageContaining("UTF-8");
        byte[] nul = ByteBuffer.allocate(7)
                .putInt(1)
                .put((byte) 0)
                .putShort((short) 0)
                .array();
        assertThatThrownBy(() -> Options.parseInfo(nul)).hasMessageContaining("NUL");
    }

    @Test
    void parsesMetaContextRequests() throws Exception {
        Options.MetaRequest r = Options.parseMeta(RawClient.metaData("vol0", "base:allocation", "x-a:b"));
        assertThat(r.export()).isEqualTo("vol0");
        assertThat(r.queries()).containsExactly("base:allocation", "x-a:b");
        assertThat(Options.selectsBaseAllocation(r.queries(), false)).isTrue();
        assertThat(Options.selectsBaseAllocation(List.of(), false)).isFalse();
        assertThat(Options.selectsBaseAllocation(List.of(), true)).isTrue();
        assertThat(Options.selectsBaseAllocation(List.of("base:"), true)).isTrue();
        assertThat(Options.selectsBaseAllocation(List.of("base:"), false)).isFalse();
        assertThat(Options.selectsBaseAllocation(List.of("qemu:dirty-bitmap:x"), true))
                .isFalse();

        byte[] good = RawClient.metaData("vol0", "base:allocation");
        byte[] trailing = ByteBuffer.allocate(good.length + 1).put(good).array();
        assertThatThrownBy(() -> Options.parseMeta(trailing)).hasMessageContaining("trailing");
        byte[] hugeCount = ByteBuffer.allocate(12).putInt(0).putInt(-1).array();
        assertThatThrownBy(() -> Options.parseMeta(hugeCount)).hasMessageContaining("queries");
    }

    @Test
    void encodesOptionReplies() {
        ByteBuffer b = ByteBuffer.wrap(Options.reply(7, Protocol.REP_INFO, Options.infoExport(SIZE, 0x1234)));
        assertThat(b.getLong()).isEqualTo(Protocol.OPTION_REPLY_MAGIC);
        assertThat(b.getInt()).isEqualTo(7);
        assertThat(b.getInt()).isEqualTo(Protocol.REP_INFO);
        assertThat(b.getInt()).isEqualTo(12);
        assertThat(b.getShort()).isEqualTo((short) Protocol.INFO_EXPORT);
        assertThat(b.getLong()).isEqualTo(SIZE);
        assertThat(b.getShort()).isEqualTo((short) 0x1234);
        assertThat(b.hasRemaining()).isFalse();

        ByteBuffer s = ByteBuffer.wrap(Options.server("vol0", "desc"));
        assertThat(s.getInt()).isEqualTo(4);
        assertThat(s.remaining()).isEqualTo(8);
        assertThat(Options.exportNameReply(SIZE, 1, false)).hasSize(134);
        assertThat(Options.exportNameReply(SIZE, 1, true)).hasSize(10);
        ByteBuffer bs = ByteBuffer.wrap(Options.infoBlockSize(512, 4096, 32 << 20));
        assertThat(bs.getShort()).isEqualTo((short) Protocol.INFO_BLOCK_SIZE);
        assertThat(bs.getInt()).isEqualTo(512);
        assertThat(bs.getInt()).isEqualTo(4096);
        assertThat(bs.getInt()).isEqualTo(32 << 20);
    }

    private static Request request(int flags, int type, long offset, long length) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(28)
                .putInt(Protocol.REQUEST_MAGIC)
                .putShort((short) flags)
                .putShort((short) type)
                .putLong(42)
                .putLong(offset)
                .putInt((int) length)
                .flip();
        return Request.decode(b);
    }

    @Test
    void decodesRequestsAsUnsigned() throws Exception {
        Request r = request(0xffff, 0xffff, -1, 0xffffffffL);
        assertThat(r.flags()).isEqualTo(0xffff);
        assertThat(r.type()).isEqualTo(0xffff);
        assertThat(r.handle()).isEqualTo(42);
        assertThat(r.length()).isEqualTo(0xffffffffL);
        assertThatThrownBy(() -> Request.decode(ByteBuffer.allocate(28))).isInstanceOf(ProtocolException.class);
    }

    private static Integer errno(int flags, int type, long offset, long length, boolean structured, boolean meta)
            throws Exception {
        Rejection r = request(flags, type, offset, length).check(SIZE, structured, meta);
        return r == null ? 0 : r.errno();
    }

    @Test
    void checksRequestsBeforeTheDevice() throws Exception {
        assertThat(errno(0, Protocol.CMD_READ, 0, 4096, false, false)).isZero();
        assertThat(errno(Protocol.CMD_FLAG_FUA, Protocol.CMD_WRITE, SIZE - 512, 512, false, false))
                .isZero();
        assertThat(errno(0, Protocol.CMD_READ, SIZE, 0, false, false)).isZero();
        // Range: writes past the end ENOSPC, the rest EINVAL; offsets at or above 2^63 too.
        assertThat(errno(0, Protocol.CMD_WRITE, SIZE - 512, 1024, false, false)).isEqualTo(Protocol.ENOSPC);
        assertThat(errno(0, Protocol.CMD_WRITE_ZEROES, SIZE, 512, false, false)).isEqualTo(Protocol.ENOSPC);
        assertThat(errno(0, Protocol.CMD_READ, SIZE - 512, 1024, false, false)).isEqualTo(Protocol.EINVAL);
        assertThat(errno(0, Protocol.CMD_TRIM, Long.MIN_VALUE, 512, false, false))
                .isEqualTo(Protocol.EINVAL);
        assertThat(errno(0, Protocol.CMD_CACHE, Long.MAX_VALUE - 100, 512, false, false))
                .isEqualTo(Protocol.EINVAL);
        // Alignment.
        assertThat(errno(0, Protocol.CMD_READ, 1, 512, false, false)).isEqualTo(Protocol.EINVAL);
        assertThat(errno(0, Protocol.CMD_WRITE, 0, 513, false, false)).isEqualTo(Protocol.EINVAL);
        // Size limit: over 32 MiB even inside a big device.
        Rejection big = request(0, Protocol.CMD_READ, 0, (32 << 20) + 512).check(1L << 40, false, false);
        assertThat(big.errno()).isEqualTo(Protocol.EINVAL);
        assertThat(request(0, Protocol.CMD_WRITE, 0, (32 << 20) + 512).oversizedWrite())
                .isTrue();
        // Flags: NO_HOLE only for WRITE_ZEROES, DF only for structured READ, REQ_ONE only for BLOCK_STATUS.
        assertThat(errno(Protocol.CMD_FLAG_NO_HOLE, Protocol.CMD_WRITE_ZEROES, 0, 512, false, false))
                .isZero();
        assertThat(errno(Protocol.CMD_FLAG_NO_HOLE, Protocol.CMD_WRITE, 0, 512, false, false))
                .isEqualTo(Protocol.EINVAL);
        assertThat(errno(Protocol.CMD_FLAG_DF, Protocol.CMD_READ, 0, 512, false, false))
                .isEqualTo(Protocol.EINVAL);
        assertThat(errno(Protocol.CMD_FLAG_DF, Protocol.CMD_READ, 0, 512, true, false))
                .isZero();
        assertThat(errno(1 << 7, Protocol.CMD_FLUSH, 0, 0, false, false)).isEqualTo(Protocol.EINVAL);
        assertThat(errno(Protocol.CMD_FLAG_FUA, Protocol.CMD_FLUSH, 0, 0, false, false))
                .isZero();
        // Block status needs the context and a nonempty range; unknown commands are refused.
        assertThat(errno(0, Protocol.CMD_BLOCK_STATUS, 0, 512, true, false)).isEqualTo(Protocol.EINVAL);
        assertThat(errno(0, Protocol.CMD_BLOCK_STATUS, 0, 0, true, true)).isEqualTo(Protocol.EINVAL);
        assertThat(errno(Protocol.CMD_FLAG_REQ_ONE, Protocol.CMD_BLOCK_STATUS, 0, 512, true, true))
                .isZero();
        assertThat(errno(0, 8, 0, 0, true, true)).isEqualTo(Protocol.EINVAL);
    }

    @Test
    void encodesReplies() {
        ByteBuffer simple = ByteBuffer.wrap(Replies.simple(Protocol.EIO, 9));
        assertThat(simple.getInt()).isEqualTo(Protocol.SIMPLE_REPLY_MAGIC);
        assertThat(simple.getInt()).isEqualTo(Protocol.EIO);
        assertThat(simple.getLong()).isEqualTo(9);

        ByteBuffer data = ByteBuffer.wrap(Replies.offsetDataHeader(9, 4096, 512));
        assertThat(data.getInt()).isEqualTo(Protocol.STRUCTURED_REPLY_MAGIC);
        assertThat(data.getShort()).isEqualTo((short) Protocol.REPLY_FLAG_DONE);
        assertThat(data.getShort()).isEqualTo((short) Protocol.REPLY_TYPE_OFFSET_DATA);
        assertThat(data.getLong()).isEqualTo(9);
        assertThat(data.getInt()).isEqualTo(520);
        assertThat(data.getLong()).isEqualTo(4096);

        ByteBuffer error = ByteBuffer.wrap(Replies.error(9, Protocol.EINVAL, "bad"));
        error.position(6);
        assertThat(error.getShort() & 0xffff).isEqualTo(Protocol.REPLY_TYPE_ERROR);
        assertThat(error.getLong()).isEqualTo(9);
        assertThat(error.getInt()).isEqualTo(9); // 4 errno + 2 length + 3 message
        assertThat(error.getInt()).isEqualTo(Protocol.EINVAL);
        assertThat(error.getShort()).isEqualTo((short) 3);
        assertThat(Replies.error(9, 5, "x".repeat(10_000))).hasSize(20 + 6 + 4096);

        List<Extent> extents = List.of(
                new Extent(0, 4096, false), new Extent(4096, 8192, true), new Extent(12288, 0xfffff000L, false));
        ByteBuffer status = ByteBuffer.wrap(Replies.blockStatus(9, 1, extents, false));
        status.position(16);
        assertThat(status.getInt()).isEqualTo(4 + 3 * 8);
        assertThat(status.getInt()).isEqualTo(1);
        assertThat(status.getInt()).isEqualTo(4096);
        assertThat(status.getInt()).isEqualTo(3);
        assertThat(status.getInt()).isEqualTo(8192);
        assertThat(status.getInt()).isZero();
        assertThat(Integer.toUnsignedLong(status.getInt())).isEqualTo(0xfffff000L);
        assertThat(Replies.blockStatus(9, 1, extents, true)).hasSize(20 + 4 + 8);
    }
}
