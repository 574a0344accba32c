package io.bighorn.dataplane.wire;

import io.bighorn.common.BufferPool;
import io.bighorn.dataplane.replica.FileRead;
import java.nio.ByteBuffer;

/**
 * A reply ready to send: its header and its payload, which is either a buffer (null for none; the
 * pooled buffer it lives in, if any, goes back to the pool only once the reply has been written or
 * dropped) or a {@link FileRead} sent straight from the replica's files (closed once sent or dropped).
 */
record Reply(Frame frame, ByteBuffer payload, BufferPool.Lease lease, FileRead file) {
    Reply(Frame frame, ByteBuffer payload, BufferPool.Lease lease) {
        this(frame, payload, lease, null);
    }

    /** A reply whose payload is sent from the files. */
    Reply(Frame frame, FileRead file) {
        this(frame, null, null, file);
    }

    /** Bytes on the wire, header included. */
    long bytes() {
        return Frame.HEADER + (file != null ? file.length() : payload == null ? 0 : payload.remaining());
    }

    void release() {
        if (lease != null) {
            lease.close();
        }
        if (file != null) {
            file.close();
        }
    }
}
