package io.bighorn.dataplane.wire;

import io.bighorn.common.BufferPool;
import java.nio.ByteBuffer;

/**
 * A reply ready to send: its header, its payload (null for none) and the pooled buffer the payload lives
 * in (null for none), which goes back to the pool only once the reply has been written or dropped.
 */
record Reply(Frame frame, ByteBuffer payload, BufferPool.Lease lease) {
    /** Bytes on the wire, header included. */
    int bytes() {
        return Frame.HEADER + (payload == null ? 0 : payload.remaining());
    }

    void release() {
        if (lease != null) {
            lease.close();
        }
    }
}
