package io.bighorn.dataplane.wire;

import io.bighorn.common.BufferPool;
import io.bighorn.dataplane.replica.FileRead;
import io.bighorn.dataplane.replica.LayerBlocks;
import io.bighorn.dataplane.replica.Replica;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.BitSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Runs a connection's requests on the replica and makes their replies, on whichever thread runs them. */
final class RequestHandler {
    /** Reads and writes up to this size run on the connection's reader; larger ones on their own thread. */
    static final int INLINE_MAX = 128 << 10;

    private static final Logger log = LoggerFactory.getLogger(ServerConnection.class);

    private final ReplicaServer server;
    private final Replica replica;

    /** A request read off the wire, with a WRITE's data (in a pooled buffer) or a control op's JSON. */
    @SuppressWarnings("ArrayRecordComponent") // handed from the reader to one request's thread, never compared
    record Request(Frame frame, BufferPool.Lease data, byte[] json) {
        void release() {
            if (data != null) {
                data.close();
            }
        }
    }

    RequestHandler(ReplicaServer server) {
        this.server = server;
        this.replica = server.replica();
    }

    /**
     * Whether {@code f} runs on the reader: the page-cache operations, short reads and writes, trims and
     * zeroing. Flushes (an fsync), control operations and large transfers get their own thread, so that
     * they never hold up the small requests behind them.
     */
    static boolean inline(Frame f) {
        return switch (f.op()) {
            case READ -> f.length() >= 0 && f.length() <= INLINE_MAX;
            case WRITE -> f.payloadLength() <= INLINE_MAX;
            case TRIM, WRITE_ZEROES -> true;
            default -> false;
        };
    }

    /** Runs {@code r} (after the server's test hook) and returns its reply; releases the request's buffer. */
    Reply handle(Request r) {
        Frame f = r.frame();
        try {
            server.hook.before(f);
            return execute(r);
        } catch (Exception e) {
            Status status = Status.of(e);
            if (status == Status.IO) {
                log.warn("{}: {} failed: {}", server.url(), f.op(), e.toString());
            }
            String message = e.getMessage() == null ? e.toString() : e.getMessage();
            ByteBuffer payload = ByteBuffer.wrap(message.getBytes(StandardCharsets.UTF_8));
            return new Reply(f.reply(status, replica.epoch(), payload.remaining()), payload, null);
        } finally {
            r.release();
        }
    }

    private Reply execute(Request r) throws Exception {
        Frame f = r.frame();
        return switch (f.op()) {
            case READ -> read(f);
            case WRITE -> {
                replica.write(f.epoch(), f.offset(), r.data().segment());
                yield ok(f, null);
            }
            case TRIM -> {
                replica.trim(f.epoch(), f.offset(), f.length());
                yield ok(f, null);
            }
            case WRITE_ZEROES -> {
                replica.writeZeroes(f.epoch(), f.offset(), f.length());
                yield ok(f, null);
            }
            case FLUSH -> {
                replica.flush();
                yield ok(f, null);
            }
            case EXTENTS -> ok(f, json(replica.extents(f.offset(), f.length())));
            case INFO -> ok(f, json(replica.info()));
            case ACCEPT_EPOCH -> {
                replica.acceptEpoch(f.epoch());
                yield ok(f, null);
            }
            case SNAPSHOT -> {
                Json.SnapshotRequest s = Json.read(r.json(), Json.SnapshotRequest.class);
                yield ok(f, json(replica.snapshot(s.name(), s.userCreated(), s.labels(), s.created())));
            }
            case SNAPSHOTS -> ok(f, json(replica.snapshots()));
            case DELETE_SNAPSHOT -> {
                replica.deleteSnapshot(Json.read(r.json(), Json.Name.class).name());
                yield ok(f, null);
            }
            case PURGE -> ok(f, json(replica.purge()));
            case REVERT -> {
                replica.revert(Json.read(r.json(), Json.Name.class).name());
                yield ok(f, null);
            }
            case EXPAND -> {
                replica.expand(f.length());
                yield ok(f, null);
            }
            case PREPARE_REBUILD -> {
                Json.RebuildRequest q = Json.read(r.json(), Json.RebuildRequest.class);
                replica.prepareRebuild(f.epoch(), q.snapshots(), q.headParent());
                yield ok(f, null);
            }
            case LAYER_DIGESTS -> {
                Json.LayerRequest q = Json.read(r.json(), Json.LayerRequest.class);
                yield ok(f, ByteBuffer.wrap(replica.layerDigests(q.name(), f.offset(), blocks(f))));
            }
            case LAYER_READ -> {
                Json.LayerRequest q = Json.read(r.json(), Json.LayerRequest.class);
                BitSet wanted = BitSet.valueOf(q.wanted() == null ? new long[0] : q.wanted());
                BufferPool.Lease encoded =
                        replica.readLayerEncoded(q.name(), f.offset(), blocks(f), wanted, server.buffers);
                ByteBuffer payload = encoded.segment().asByteBuffer();
                yield new Reply(f.reply(Status.OK, 0, payload.remaining()), payload, encoded);
            }
            case LAYER_WRITE -> {
                replica.writeLayer(f.epoch(), LayerBlocks.decode(r.json() == null ? new byte[0] : r.json()));
                yield ok(f, null);
            }
            case PULL_LAYER -> {
                Json.PullRequest q = Json.read(r.json(), Json.PullRequest.class);
                BitSet wanted = BitSet.valueOf(q.wanted() == null ? new long[0] : q.wanted());
                try (BufferPool.Lease encoded =
                        server.peers().fetch(q.source(), q.name(), f.offset(), blocks(f), wanted, server.buffers)) {
                    LayerBlocks blocks = LayerBlocks.decode(encoded.segment());
                    replica.writeLayer(f.epoch(), blocks);
                    yield ok(f, json(blocks.dataBytes()));
                }
            }
            case PARTIAL_BLOCKS -> ok(f, json(replica.takePartialBlocks()));
            case SYNC_LAYERS -> {
                replica.syncLayers();
                yield ok(f, null);
            }
            case FINISH_REBUILD -> {
                replica.finishRebuild(f.epoch(), f.length());
                yield ok(f, null);
            }
            case PUT_INTENT -> {
                replica.putIntent(r.json() == null ? new byte[0] : r.json());
                yield ok(f, null);
            }
            case GET_INTENT -> ok(f, ByteBuffer.wrap(replica.intent()));
            case HELLO, CHALLENGE, PROOF, READY, GOODBYE -> throw new IllegalStateException("not a request: " + f.op());
        };
    }

    /**
     * A small read is read into a pooled buffer that the reply holds until it is written. A large one is
     * sent straight from the layer files ({@code sendfile}): it skips a copy into this process and one
     * out of it, and needs no buffer.
     */
    private Reply read(Frame f) throws IOException {
        if (f.length() < 0 || f.length() > Frame.MAX_PAYLOAD) {
            throw new IllegalArgumentException(
                    "READ of " + f.length() + " bytes: at most " + Frame.MAX_PAYLOAD + " per request");
        }
        if (f.length() > INLINE_MAX) {
            FileRead file = replica.readForTransfer(f.offset(), f.length());
            return new Reply(f.reply(Status.OK, 0, (int) file.length()), file);
        }
        BufferPool.Lease data = server.buffers.acquire(f.length());
        try {
            replica.read(f.offset(), data.segment());
        } catch (IOException | RuntimeException e) {
            data.close();
            throw e;
        }
        ByteBuffer payload = data.segment().asByteBuffer();
        return new Reply(f.reply(Status.OK, 0, payload.remaining()), payload, data);
    }

    private static Reply ok(Frame f, ByteBuffer payload) {
        return new Reply(f.reply(Status.OK, 0, payload == null ? 0 : payload.remaining()), payload, null);
    }

    private static int blocks(Frame f) {
        if (f.length() < 1 || f.length() > LayerBlocks.MAX_BLOCKS) {
            throw new IllegalArgumentException(
                    "between 1 and " + LayerBlocks.MAX_BLOCKS + " blocks per request, not " + f.length());
        }
        return (int) f.length();
    }

    private static ByteBuffer json(Object value) throws IOException {
        byte[] bytes = Json.write(value);
        if (bytes.length > Frame.MAX_PAYLOAD) {
            throw new IOException("reply of " + bytes.length + " bytes exceeds " + Frame.MAX_PAYLOAD);
        }
        return ByteBuffer.wrap(bytes);
    }
}
