package io.bighorn.dataplane.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import org.junit.jupiter.api.Test;

class FrameTest {

    @Test
    void roundTripKeepsEveryField() throws Exception {
        Frame f = new Frame(Op.WRITE, Status.STALE_EPOCH, -2L, 1L << 40, 4096, Long.MAX_VALUE, 4096);
        ByteBuffer buf = f.encode();
        assertThat(buf.remaining()).isEqualTo(Frame.HEADER);
        assertThat(Frame.decode(buf)).isEqualTo(f);
        assertThat(buf.hasRemaining()).isFalse();
    }

    @Test
    void everyOpAndStatusRoundTrips() throws Exception {
        for (Op op : Op.values()) {
            for (Status s : Status.values()) {
                Frame f = new Frame(op, s, 7, 0, 0, 0, 0);
                assertThat(Frame.decode(f.encode())).isEqualTo(f);
            }
        }
    }

    @Test
    void badMagicIsRefused() {
        ByteBuffer buf = Frame.request(Op.READ, 1, 0, 512, 0, 0).encode();
        buf.putInt(0, 0x47455420); // "GET ": someone speaking HTTP
        assertThatThrownBy(() -> Frame.decode(buf))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("bad magic 0x47455420");
    }

    @Test
    void otherVersionIsRefused() {
        ByteBuffer buf = Frame.request(Op.READ, 1, 0, 512, 0, 0).encode();
        buf.putShort(4, (short) 2);
        assertThatThrownBy(() -> Frame.decode(buf))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("protocol version 2 is not supported");
    }

    @Test
    void unknownOpIsRefused() {
        ByteBuffer buf = Frame.request(Op.READ, 1, 0, 512, 0, 0).encode();
        buf.put(6, (byte) 200);
        assertThatThrownBy(() -> Frame.decode(buf)).hasMessageContaining("unknown message type 200");
    }

    @Test
    void oversizePayloadIsRefusedFromTheHeaderAlone() {
        ByteBuffer buf = Frame.request(Op.WRITE, 1, 0, 512, 0, 0).encode();
        buf.putInt(40, Frame.MAX_PAYLOAD + 1);
        // only the 48 header bytes exist: decode must refuse before anyone reads (or allocates) the payload
        assertThatThrownBy(() -> Frame.decode(buf))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("exceeds the limit");
        buf.putInt(40, -1); // 4 GiB - 1 as unsigned
        assertThatThrownBy(() -> Frame.decode(buf.rewind())).hasMessageContaining("4294967295 bytes");
        assertThatThrownBy(() -> new Frame(Op.WRITE, Status.OK, 1, 0, 0, 0, Frame.MAX_PAYLOAD + 1))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void truncatedHeaderIsRefused() {
        ByteBuffer buf = Frame.request(Op.FLUSH, 1, 0, 0, 0, 0).encode();
        buf.limit(Frame.HEADER - 1);
        assertThatThrownBy(() -> Frame.decode(buf)).hasMessageContaining("truncated header: 47 of 48");
    }

    @Test
    void streamEndingMidHeaderIsAnEof() {
        byte[] bytes = new byte[20];
        Frame.request(Op.FLUSH, 1, 0, 0, 0, 0).encode().get(bytes);
        var in = Channels.newChannel(new java.io.ByteArrayInputStream(bytes));
        assertThatThrownBy(() -> Frame.read(in, ByteBuffer.allocate(Frame.HEADER)))
                .isInstanceOf(EOFException.class);
    }

    @Test
    void readsFramesBackToBackFromAStream() throws Exception {
        Frame a = Frame.request(Op.READ, 1, 4096, 512, 0, 0);
        Frame b = Frame.request(Op.TRIM, 2, 0, 8192, 3, 0);
        ByteBuffer both = ByteBuffer.allocate(2 * Frame.HEADER)
                .put(a.encode())
                .put(b.encode())
                .flip();
        var in = Channels.newChannel(new java.io.ByteArrayInputStream(both.array()));
        ByteBuffer scratch = ByteBuffer.allocateDirect(Frame.HEADER);
        assertThat(Frame.read(in, scratch)).isEqualTo(a);
        assertThat(Frame.read(in, scratch)).isEqualTo(b);
    }
}
