package io.bighorn.nbd;

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
import java.lang.foreign.ValueLayout;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection: the handshake, then the transmission phase.
 *
 * <p><b>Concurrency.</b> One thread (the connection's virtual thread) reads: it decodes each request header,
 * checks it against the session, reads a WRITE's payload into native memory and starts a virtual thread for
 * the request. Requests therefore run concurrently and their replies go out in completion order, which NBD
 * allows (replies carry the client's handle). Two semaphores bound a connection's work in flight: at most
 * {@link #MAX_IN_FLIGHT} requests and {@link #MAX_IN_FLIGHT_BYTES} of READ/WRITE payload. The reader takes
 * the permits before it reads the payload, so a client that sends faster than the device completes is held
 * back by TCP: the server simply stops reading (back-pressure, no unbounded queue). A reply is written
 * whole under one lock, so chunks of different replies never interleave on the socket.
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

    private static final int IO_CHUNK = 256 << 10;

    private final Socket socket;
    private final Exports exports;
    private final NbdServer server;
    private final String peer;

    private final Semaphore slots = new Semaphore(MAX_IN_FLIGHT);
    private final Semaphore bytes = new Semaphore(MAX_IN_FLIGHT_BYTES);
    private final ReentrantLock writeLock = new ReentrantLock();
    /** Reader side: a chunk buffer for copying WRITE payloads into native memory. */
    private final byte[] readChunk = new byte[IO_CHUNK];
    /** Writer side, under {@link #writeLock}: a chunk buffer for copying READ data out of native memory. */
    private final byte[] writeChunk = new byte[IO_CHUNK];

    private DataInputStream in;
    private OutputStream out;
    private Session session;

    Connection(Socket socket, Exports exports, NbdServer server) {
        this.socket = socket;
        this.exports = exports;
        this.server = server;
        this.peer = String.valueOf(socket.getRemoteSocketAddress());
    }

    String peer() {
        return peer;
    }

    /** Closes the socket: the reader and any reply writer fail at once, and the connection winds down. */
    void abort() {
        closeQuietly();
    }

    @Override
    public void run() {
        LOG.info("NBD client {} connected", peer);
        String end = "closed";
        try {
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
            in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 64 << 10));
            out = new BufferedOutputStream(socket.getOutputStream(), 64 << 10);
            Optional<Session> negotiated = new Handshake(in, out, exports, peer).run();
            if (negotiated.isEmpty()) {
                end = "ended the handshake";
                return;
            }
            session = negotiated.get();
            socket.setSoTimeout(0);
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
        } catch (SocketException e) {
            end = server.isClosing() ? "server closing" : "connection lost (" + e.getMessage() + ")";
        } catch (IOException e) {
            LOG.warn("NBD client {}: I/O error: {}", peer, e.toString());
            end = "I/O error";
        } catch (RuntimeException e) {
            server.unexpected(e);
            LOG.error("NBD client {}: unexpected error", peer, e);
            end = "internal error";
        } finally {
            closeQuietly();
            LOG.info("NBD client {} disconnected: {}", peer, end);
        }
    }

    /** The transmission phase; returns why it ended. */
    private String transmit() throws IOException {
        ByteBuffer header = ByteBuffer.allocate(Protocol.REQUEST_HEADER);
        try {
            while (true) {
                header.clear();
                if (!readHeader(header.array())) {
                    return "client closed the connection";
                }
                Request r = Request.decode(header);
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
                    skip(r.payload());
                    LOG.debug("NBD client {}: refused request: {}", peer, rejection.message());
                    reject(r, rejection);
                    continue;
                }
                dispatch(r);
            }
        } finally {
            drain();
        }
    }

    /** Takes the permits, reads a WRITE's payload, and starts the request's thread. */
    private void dispatch(Request r) throws IOException {
        int payloadBytes = weight(r);
        slots.acquireUninterruptibly();
        bytes.acquireUninterruptibly(payloadBytes);
        BufferPool.Lease lease = null;
        boolean started = false;
        try {
            MemorySegment payload = MemorySegment.NULL;
            if (r.type() == Protocol.CMD_WRITE) {
                lease = server.buffers().acquire(r.length());
                payload = lease.segment();
                readPayload(payload);
            }
            BufferPool.Lease owned = lease;
            MemorySegment data = payload;
            Thread.ofVirtual().name("nbd-request").start(() -> handle(r, data, owned, payloadBytes));
            started = true;
        } finally {
            if (!started) {
                if (lease != null) {
                    lease.close();
                }
                bytes.release(payloadBytes);
                slots.release();
            }
        }
    }

    private static int weight(Request r) {
        return r.type() == Protocol.CMD_READ || r.type() == Protocol.CMD_WRITE ? (int) r.length() : 0;
    }

    /** Runs one request on its own thread and sends its reply; never throws. */
    private void handle(Request r, MemorySegment payload, BufferPool.Lease lease, int payloadBytes) {
        try {
            execute(r, payload);
        } catch (ReplyFailedException e) {
            LOG.debug("NBD client {}: reply to handle {} not sent: {}", peer, r.handle(), e.getMessage());
        } catch (RuntimeException e) {
            server.unexpected(e);
            LOG.error("NBD client {}: unexpected error in command {}", peer, r.type(), e);
            abort();
        } finally {
            if (lease != null) {
                lease.close();
            }
            bytes.release(payloadBytes);
            slots.release();
        }
    }

    private void execute(Request r, MemorySegment payload) {
        BlockDevice device = session.export().device();
        boolean fua = r.has(Protocol.CMD_FLAG_FUA);
        try {
            switch (r.type()) {
                case Protocol.CMD_READ -> {
                    // pooled and shared: a device may fill it from another thread (the engine's replica clients)
                    try (BufferPool.Lease lease = server.buffers().acquire(r.length())) {
                        MemorySegment data = lease.segment();
                        device.read(r.offset(), data);
                        sendRead(r, data);
                    }
                    return;
                }
                case Protocol.CMD_WRITE -> device.write(r.offset(), payload, fua);
                case Protocol.CMD_FLUSH -> device.flush();
                case Protocol.CMD_TRIM -> {
                    device.trim(r.offset(), r.length());
                    if (fua) {
                        device.flush();
                    }
                }
                case Protocol.CMD_WRITE_ZEROES -> {
                    device.writeZeroes(r.offset(), r.length(), !r.has(Protocol.CMD_FLAG_NO_HOLE));
                    if (fua) {
                        device.flush();
                    }
                }
                case Protocol.CMD_CACHE -> {
                    // Nothing to prefetch: the device reads from the page cache or its replicas.
                }
                case Protocol.CMD_BLOCK_STATUS -> {
                    sendBlockStatus(r, device);
                    return;
                }
                default -> throw new IllegalStateException("unchecked command " + r.type());
            }
            send(Replies.simple(0, r.handle()));
        } catch (OutOfRangeException e) {
            // Checked before: the device disagreeing about its range is a server bug, still an EINVAL.
            server.unexpected(e);
            sendError(r, Protocol.EINVAL, e.getMessage());
        } catch (NoSpaceException e) {
            sendError(r, Protocol.ENOSPC, e.getMessage());
        } catch (IOException e) {
            LOG.warn(
                    "NBD client {}: command {} at {} length {} failed: {}",
                    peer,
                    r.type(),
                    r.offset(),
                    r.length(),
                    e.toString());
            sendError(r, Protocol.EIO, e.getMessage() == null ? "I/O error" : e.getMessage());
        }
    }

    private void sendBlockStatus(Request r, BlockDevice device) throws IOException {
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
        send(Replies.blockStatus(r.handle(), Protocol.BASE_ALLOCATION_ID, extents, r.has(Protocol.CMD_FLAG_REQ_ONE)));
    }

    // ---- replies: each written whole under the write lock ----

    private void reject(Request r, Rejection rejection) {
        sendError(r, rejection.errno(), rejection.message());
    }

    private void sendError(Request r, int errno, String message) {
        if (session.structured()) {
            send(Replies.error(r.handle(), errno, message));
        } else {
            // A simple reply to a failed READ carries no data.
            send(Replies.simple(errno, r.handle()));
        }
    }

    private void sendRead(Request r, MemorySegment data) {
        int n = (int) data.byteSize();
        writeLock.lock();
        try {
            if (session.structured()) {
                out.write(n == 0 ? Replies.done(r.handle()) : Replies.offsetDataHeader(r.handle(), r.offset(), n));
            } else {
                out.write(Replies.simple(0, r.handle()));
            }
            for (long done = 0; done < n; ) {
                int part = (int) Math.min(writeChunk.length, n - done);
                MemorySegment.copy(data, ValueLayout.JAVA_BYTE, done, writeChunk, 0, part);
                out.write(writeChunk, 0, part);
                done += part;
            }
            out.flush();
        } catch (IOException e) {
            throw replyFailed(e);
        } finally {
            writeLock.unlock();
        }
    }

    private void send(byte[] reply) {
        writeLock.lock();
        try {
            out.write(reply);
            out.flush();
        } catch (IOException e) {
            throw replyFailed(e);
        } finally {
            writeLock.unlock();
        }
    }

    /** A reply that cannot be sent ends the connection: the client can no longer match replies. */
    private ReplyFailedException replyFailed(IOException e) {
        abort();
        return new ReplyFailedException(e);
    }

    /** A reply could not be written; the connection is closing. */
    private static final class ReplyFailedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ReplyFailedException(IOException cause) {
            super(cause.getMessage(), cause);
        }
    }

    // ---- reading ----

    /** Reads a request header; false on a clean end of stream before its first byte. */
    private boolean readHeader(byte[] header) throws IOException {
        int first = in.read();
        if (first < 0) {
            return false;
        }
        header[0] = (byte) first;
        in.readFully(header, 1, header.length - 1);
        return true;
    }

    private void readPayload(MemorySegment dst) throws IOException {
        long n = dst.byteSize();
        for (long done = 0; done < n; ) {
            int part = (int) Math.min(readChunk.length, n - done);
            in.readFully(readChunk, 0, part);
            MemorySegment.copy(readChunk, 0, dst, ValueLayout.JAVA_BYTE, done, part);
            done += part;
        }
    }

    private void skip(long n) throws IOException {
        InputStream s = in;
        for (long left = n; left > 0; ) {
            long skipped = s.skip(left);
            if (skipped <= 0) {
                if (s.read() < 0) {
                    throw new EOFException("client closed inside a request payload");
                }
                skipped = 1;
            }
            left -= skipped;
        }
    }

    /** Waits for the requests in flight; after a while closes the socket so blocked replies fail. */
    private void drain() {
        boolean done = false;
        try {
            done = slots.tryAcquire(MAX_IN_FLIGHT, DRAIN_SECONDS, TimeUnit.SECONDS);
            if (!done) {
                LOG.warn("NBD client {}: requests still in flight after {} s; closing under them", peer, DRAIN_SECONDS);
                closeQuietly();
                slots.acquireUninterruptibly(MAX_IN_FLIGHT);
                done = true;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closeQuietly();
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
            socket.close();
        } catch (IOException e) {
            LOG.debug("NBD client {}: close failed: {}", peer, e.toString());
        }
    }
}
