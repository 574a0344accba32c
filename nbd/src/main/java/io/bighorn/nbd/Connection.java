package io.bighorn.nbd;

import io.bighorn.common.BufferPool;
import io.bighorn.common.Plug;
import io.bighorn.dataplane.blockdev.BlockDevice;
import io.bighorn.dataplane.blockdev.BlockDevice.Extent;
import io.bighorn.dataplane.blockdev.NoSpaceException;
import io.bighorn.dataplane.blockdev.OutOfRangeException;
import io.bighorn.nbd.Handshake.Session;
import io.bighorn.nbd.Request.Rejection;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection: the handshake, then the transmission phase.
 *
 * <p><b>Concurrency.</b> The connection's own platform thread does the handshake with blocking streams,
 * then switches the socket to non-blocking mode and becomes the reader: it takes in requests through an
 * {@link Inbox} (one read system call brings every request sent so far), checks each, reads a WRITE's
 * payload into a pooled native buffer and starts the request. READ, WRITE, FLUSH, TRIM and WRITE_ZEROES
 * go to the device's asynchronous calls and need no thread: the thread that completes one (for the
 * engine, the reply thread of its last replica) queues the reply in the {@link Outbox}, which writes
 * replies that complete together with one system call and never blocks that thread. The reader runs
 * {@linkplain Plug plugged}: the requests it takes in with one read reach the device's replicas
 * together, when it has no more input to handle. CACHE and BLOCK_STATUS run on a virtual thread each. Replies go out in completion order,
 * which NBD allows (they carry the client's handle). Two semaphores bound a connection's work in flight:
 * at most {@link #MAX_IN_FLIGHT} requests and {@link #MAX_IN_FLIGHT_BYTES} of READ/WRITE payload, given
 * back when a reply has been written. The reader takes the permits before it reads the payload, so a
 * client that sends faster than the device completes, or does not read its replies, is held back by TCP:
 * the server simply stops reading (back-pressure, no unbounded queue).
 *
 * <p><b>Checks before the device.</b> Every request is checked against the size sent in the handshake and
 * the 512-byte block size before any buffer is allocated or the device is touched; refused requests are
 * answered by the reader itself (EINVAL, or ENOSPC for writes past the end). A WRITE larger than the
 * advertised maximum cannot be skipped without reading gigabytes, so it gets EINVAL and the session ends
 * (the spec allows a hard disconnect when the client breaks a MUST). Device errors map to NBD errors:
 * {@link NoSpaceException} to ENOSPC, {@link OutOfRangeException} to EINVAL, any other failure to EIO.
 *
 * <p><b>Ending.</b> The session ends on NBD_CMD_DISC, end of stream, broken framing (bad magic: the stream
 * cannot be resynchronised) or a failed reply write. In every case the reader stops reading, waits for
 * the requests in flight (so every acknowledged write is on the device, and the server's close waits for
 * them too), then closes the socket. Nothing a client sends can throw out of {@link #run()}: unexpected
 * exceptions are logged and counted, and end only this connection.
 */
final class Connection implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(Connection.class);

    static final int MAX_IN_FLIGHT = 64;
    static final int MAX_IN_FLIGHT_BYTES = 64 << 20;
    /** A client must finish the handshake within this time. */
    static final int HANDSHAKE_TIMEOUT_MS = 30_000;
    /** How long a closing connection waits for in-flight requests before closing the socket under them. */
    private static final long DRAIN_SECONDS = 10;

    private static final int INBOX_BYTES = 256 << 10;

    private final SocketChannel ch;
    private final Exports exports;
    private final NbdServer server;
    private final String peer;

    private final Semaphore slots = new Semaphore(MAX_IN_FLIGHT);
    private final Semaphore bytes = new Semaphore(MAX_IN_FLIGHT_BYTES);

    private volatile Inbox inbox;
    private Outbox outbox;
    private Session session;

    Connection(SocketChannel ch, Exports exports, NbdServer server) {
        this.ch = ch;
        this.exports = exports;
        this.server = server;
        String remote;
        try {
            remote = String.valueOf(ch.getRemoteAddress());
        } catch (IOException e) {
            remote = "(unknown peer)";
        }
        this.peer = remote;
    }

    String peer() {
        return peer;
    }

    /** Closes the socket: the reader and any reply writer fail at once, and the connection winds down. */
    void abort() {
        closeQuietly();
        Inbox reader = inbox;
        if (reader != null) {
            reader.wakeup();
        }
    }

    @Override
    public void run() {
        LOG.info("NBD client {} connected", peer);
        String end = "closed";
        try {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            Socket socket = ch.socket();
            socket.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
            HandshakeInput handshakeIn = new HandshakeInput(socket.getInputStream());
            OutputStream handshakeOut = new BufferedOutputStream(socket.getOutputStream(), 64 << 10);
            Optional<Session> negotiated =
                    new Handshake(new DataInputStream(handshakeIn), handshakeOut, exports, peer).run();
            if (negotiated.isEmpty()) {
                end = "ended the handshake";
                return;
            }
            session = negotiated.get();
            inbox = new Inbox(ch, INBOX_BYTES, handshakeIn.leftover(), this::flushPlug);
            outbox = new Outbox(
                    ch,
                    "nbd-flush-" + peer,
                    e -> {
                        LOG.debug("NBD client {}: reply not sent: {}", peer, e.toString());
                        abort();
                    },
                    server::replyStalled);
            String name = session.export().name();
            LOG.info(
                    "NBD client {} attached to export '{}' ({} bytes, structured replies {}, base:allocation {})",
                    peer,
                    name,
                    session.size(),
                    session.structured(),
                    session.baseAllocation());
            server.attached(name);
            try {
                end = transmit();
            } finally {
                server.detached(name);
            }
        } catch (ProtocolException e) {
            LOG.warn("NBD client {}: protocol error: {}", peer, e.getMessage());
            end = "protocol error";
        } catch (SocketTimeoutException e) {
            LOG.warn("NBD client {}: handshake timed out", peer);
            end = "handshake timeout";
        } catch (EOFException e) {
            end = "client went away";
        } catch (SocketException | ClosedChannelException e) {
            end = server.isClosing() ? "server closing" : "connection lost (" + e + ")";
        } catch (IOException e) {
            LOG.warn("NBD client {}: I/O error: {}", peer, e.toString());
            end = "I/O error";
        } catch (RuntimeException e) {
            server.unexpected(e);
            LOG.error("NBD client {}: unexpected error", peer, e);
            end = "internal error";
        } finally {
            closeQuietly();
            if (outbox != null) {
                outbox.close();
            }
            if (inbox != null) {
                try {
                    inbox.close();
                } catch (IOException e) {
                    LOG.debug("NBD client {}: closing the selector: {}", peer, e.toString());
                }
            }
            LOG.info("NBD client {} disconnected: {}", peer, end);
        }
    }

    /** The transmission phase; returns why it ended. */
    private String transmit() throws IOException {
        Plug.begin(); // requests read in one go are sent to the device together
        try {
            while (true) {
                if (!inbox.fill(Protocol.REQUEST_HEADER)) {
                    return "client closed the connection";
                }
                Request r = Request.decode(inbox.buffer());
                if (r.type() == Protocol.CMD_DISC) {
                    return "NBD_CMD_DISC";
                }
                Rejection rejection = r.check(session.size(), session.structured(), session.baseAllocation());
                if (rejection != null) {
                    if (r.oversizedWrite()) {
                        reject(r, rejection);
                        throw new ProtocolException("WRITE of " + r.length() + " bytes is over the maximum "
                                + Protocol.MAX_PAYLOAD + "; its payload cannot be skipped");
                    }
                    inbox.skip(r.payload());
                    LOG.debug("NBD client {}: refused request: {}", peer, rejection.message());
                    reject(r, rejection);
                    continue;
                }
                dispatch(r);
            }
        } finally {
            Plug.current().end();
            drain();
        }
    }

    /** Before the reader may block: what it held back may be what it waits for. */
    private void flushPlug() {
        Plug plug = Plug.current();
        if (plug != null) {
            plug.flush();
        }
    }

    private void acquire(Semaphore s, int permits) {
        if (!s.tryAcquire(permits)) {
            flushPlug();
            s.acquireUninterruptibly(permits);
        }
    }

    /** Takes the permits, reads a WRITE's payload, and starts the request. */
    private void dispatch(Request r) throws IOException {
        int weight = r.type() == Protocol.CMD_READ || r.type() == Protocol.CMD_WRITE ? (int) r.length() : 0;
        acquire(slots, 1);
        acquire(bytes, weight);
        InFlight req = new InFlight(r, weight);
        boolean started = false;
        try {
            BlockDevice device = session.export().device();
            switch (r.type()) {
                case Protocol.CMD_READ -> {
                    // pooled and shared: the device may fill it from another thread (the engine's replica clients)
                    req.lease = server.buffers().acquire(r.length());
                    MemorySegment data = req.lease.segment();
                    started = true;
                    whenDone(req, () -> device.readAsync(r.offset(), data), () -> sendRead(req, data));
                }
                case Protocol.CMD_WRITE -> {
                    req.lease = server.buffers().acquire(r.length());
                    MemorySegment data = req.lease.segment();
                    inbox.readFully(data.asByteBuffer());
                    started = true;
                    boolean fua = r.has(Protocol.CMD_FLAG_FUA);
                    whenDone(
                            req,
                            () -> device.writeAsync(r.offset(), data, fua),
                            () -> send(req, Replies.simple(0, r.handle())));
                }
                case Protocol.CMD_FLUSH -> {
                    started = true;
                    whenDone(req, device::flushAsync, () -> send(req, Replies.simple(0, r.handle())));
                }
                case Protocol.CMD_TRIM, Protocol.CMD_WRITE_ZEROES -> {
                    started = true;
                    whenDone(req, () -> discard(device, r), () -> send(req, Replies.simple(0, r.handle())));
                }
                default -> {
                    started = true;
                    Thread.ofVirtual().name("nbd-request").start(() -> handle(req, device));
                }
            }
        } finally {
            if (!started) {
                req.release();
            }
        }
    }

    /** TRIM or WRITE_ZEROES, then with FUA a flush (started off the thread that completed the first). */
    private static CompletableFuture<Void> discard(BlockDevice device, Request r) {
        CompletableFuture<Void> done = r.type() == Protocol.CMD_TRIM
                ? device.trimAsync(r.offset(), r.length())
                : device.writeZeroesAsync(r.offset(), r.length(), !r.has(Protocol.CMD_FLAG_NO_HOLE));
        if (!r.has(Protocol.CMD_FLAG_FUA)) {
            return done;
        }
        return done.thenComposeAsync(
                v -> device.flushAsync(), t -> Thread.ofVirtual().start(t));
    }

    /** Starts an asynchronous device call and answers the request when it completes. */
    private void whenDone(InFlight req, Supplier<CompletableFuture<Void>> call, Runnable reply) {
        CompletableFuture<Void> f;
        try {
            f = call.get();
        } catch (RuntimeException e) {
            failed(req, e);
            return;
        }
        var _ = f.whenComplete((v, e) -> {
            if (e == null) {
                reply.run();
            } else {
                failed(req, e);
            }
        });
    }

    /** A request between its dispatch and its reply: what it holds until the reply is written. */
    private final class InFlight {
        final Request request;
        final int weight;
        BufferPool.Lease lease;

        InFlight(Request request, int weight) {
            this.request = request;
            this.weight = weight;
        }

        void release() {
            if (lease != null) {
                lease.close();
                lease = null;
            }
            bytes.release(weight);
            slots.release();
        }
    }

    /** Runs one of the rarer requests (CACHE, BLOCK_STATUS) on its own thread and queues its reply. */
    private void handle(InFlight req, BlockDevice device) {
        Request r = req.request;
        try {
            switch (r.type()) {
                case Protocol.CMD_CACHE -> // nothing to prefetch: the device reads from the page cache or replicas
                    send(req, Replies.simple(0, r.handle()));
                case Protocol.CMD_BLOCK_STATUS -> send(req, blockStatus(r, device));
                default -> throw new IllegalStateException("unchecked command " + r.type());
            }
        } catch (IOException | RuntimeException e) {
            failed(req, e);
        }
    }

    /** Answers a failed request with its NBD error; an unexpected exception also ends the connection. */
    private void failed(InFlight req, Throwable failure) {
        Request r = req.request;
        Throwable e =
                failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        switch (e) {
            case OutOfRangeException o -> {
                // Checked before: the device disagreeing about its range is a server bug, still an EINVAL.
                server.unexpected(o);
                sendError(req, Protocol.EINVAL, o.getMessage());
            }
            case NoSpaceException n -> sendError(req, Protocol.ENOSPC, n.getMessage());
            case IOException io -> {
                LOG.warn(
                        "NBD client {}: command {} at {} length {} failed: {}",
                        peer,
                        r.type(),
                        r.offset(),
                        r.length(),
                        io.toString());
                sendError(req, Protocol.EIO, io.getMessage() == null ? "I/O error" : io.getMessage());
            }
            case RuntimeException re -> {
                server.unexpected(re);
                LOG.error("NBD client {}: unexpected error in command {}", peer, r.type(), re);
                req.release();
                abort();
            }
            default -> {
                LOG.error("NBD client {}: command {} failed", peer, r.type(), e);
                req.release();
                abort();
            }
        }
    }

    private static byte[] blockStatus(Request r, BlockDevice device) throws IOException {
        // Query at most 1 GiB at a time: the reply may describe less than asked, the client asks again.
        long length = Math.min(r.length(), 1L << 30);
        List<Extent> extents = new ArrayList<>();
        for (Extent e : device.extents(r.offset(), length)) {
            if (e.length() > 0) {
                extents.add(e);
            }
        }
        if (extents.isEmpty()) {
            extents.add(new Extent(r.offset(), length, true));
        }
        return Replies.blockStatus(r.handle(), Protocol.BASE_ALLOCATION_ID, extents, r.has(Protocol.CMD_FLAG_REQ_ONE));
    }

    // ---- replies: queued whole in the outbox ----

    private void reject(Request r, Rejection rejection) {
        acquire(slots, 1);
        sendError(new InFlight(r, 0), rejection.errno(), rejection.message());
    }

    private void sendError(InFlight req, int errno, String message) {
        if (session.structured()) {
            send(req, Replies.error(req.request.handle(), errno, message));
        } else {
            // A simple reply to a failed READ carries no data.
            send(req, Replies.simple(errno, req.request.handle()));
        }
    }

    private void sendRead(InFlight req, MemorySegment data) {
        Request r = req.request;
        int n = (int) data.byteSize();
        ByteBuffer head;
        if (!session.structured()) {
            head = ByteBuffer.wrap(Replies.simple(0, r.handle()));
        } else if (n == 0) {
            head = ByteBuffer.wrap(Replies.done(r.handle()));
        } else {
            head = ByteBuffer.wrap(Replies.offsetDataHeader(r.handle(), r.offset(), n));
        }
        outbox.send(new ByteBuffer[] {head, data.asByteBuffer()}, req::release);
    }

    private void send(InFlight req, byte[] reply) {
        outbox.send(new ByteBuffer[] {ByteBuffer.wrap(reply)}, req::release);
    }

    /** Waits for the requests in flight; after a while closes the socket so blocked replies fail. */
    private void drain() {
        boolean done = false;
        try {
            done = slots.tryAcquire(MAX_IN_FLIGHT, DRAIN_SECONDS, TimeUnit.SECONDS);
            if (!done) {
                LOG.warn("NBD client {}: requests still in flight after {} s; closing under them", peer, DRAIN_SECONDS);
                abort();
                slots.acquireUninterruptibly(MAX_IN_FLIGHT);
                done = true;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abort();
            slots.acquireUninterruptibly(MAX_IN_FLIGHT);
            done = true;
        } finally {
            if (done) {
                slots.release(MAX_IN_FLIGHT);
            }
        }
    }

    private void closeQuietly() {
        try {
            ch.close();
        } catch (IOException e) {
            LOG.debug("NBD client {}: close failed: {}", peer, e.toString());
        }
    }

    /** The handshake's input: buffered, and able to hand over what it read ahead of the handshake's end. */
    private static final class HandshakeInput extends BufferedInputStream {
        HandshakeInput(InputStream in) {
            super(in, 64 << 10);
        }

        /** The bytes received but not read yet: the start of the transmission phase. */
        byte[] leftover() {
            synchronized (this) {
                return Arrays.copyOfRange(buf, pos, count);
            }
        }
    }
}
