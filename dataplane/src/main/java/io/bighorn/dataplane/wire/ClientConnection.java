package io.bighorn.dataplane.wire;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One connection of a {@link WireReplicaEndpoint}. Callers send under {@link #sendLock}; one reader thread
 * matches replies to {@link #pending} requests by id and completes their futures.
 */
final class ClientConnection {
    private final WireReplicaEndpoint endpoint;
    private final SocketChannel ch;
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final ReentrantLock sendLock = new ReentrantLock();
    private final ByteBuffer sendHeader = ByteBuffer.allocateDirect(Frame.HEADER);
    private final Thread reader;

    /** Turns a reply's JSON payload into the caller's result. */
    @FunctionalInterface
    interface Decoder {
        Object decode(byte[] json) throws IOException;
    }

    /** A request waiting for its reply: the read buffer it fills, or how to decode its payload. */
    record Pending(Frame request, CompletableFuture<Object> future, MemorySegment dst, Decoder decoder) {}

    ClientConnection(WireReplicaEndpoint endpoint, SocketChannel ch, int index) {
        this.endpoint = endpoint;
        this.ch = ch;
        this.reader = Thread.ofPlatform()
                .name("bighorn-wire-" + endpoint.address() + "-" + index)
                .daemon()
                .unstarted(this::readLoop);
    }

    void start() {
        reader.start();
    }

    int load() {
        return pending.size();
    }

    /**
     * Sends {@code request} with {@code data} (or none) and returns the future its reply completes. A
     * caller that gives up (cancels, or times out with {@code orTimeout}) removes the entry at once.
     */
    CompletableFuture<Object> send(Frame request, MemorySegment data, MemorySegment dst, Decoder decoder) {
        CompletableFuture<Object> future = new CompletableFuture<>();
        Pending p = new Pending(request, future, dst, decoder);
        pending.put(request.id(), p);
        var _ = future.whenComplete((r, e) -> pending.remove(request.id(), p));
        IOException failure = endpoint.failure();
        if (failure != null) { // failed before or while we registered: failAll may have missed us
            future.completeExceptionally(failure);
            return future;
        }
        sendLock.lock();
        try {
            sendHeader.clear();
            request.encode(sendHeader);
            sendHeader.flip();
            if (data == null) {
                Frame.writeFully(ch, sendHeader);
            } else {
                Frame.writeFully(ch, sendHeader, data.asByteBuffer());
            }
        } catch (IOException | RuntimeException e) {
            endpoint.fail(e);
        } finally {
            sendLock.unlock();
        }
        return future;
    }

    private void readLoop() {
        ByteBuffer header = ByteBuffer.allocateDirect(Frame.HEADER);
        ByteBuffer scratch = ByteBuffer.allocateDirect(64 << 10);
        try {
            while (true) {
                Frame f = Frame.read(ch, header);
                if (f.op() == Op.GOODBYE) {
                    throw new ProtocolException("the replica dropped the connection: " + text(readBytes(f)));
                }
                Pending p = pending.remove(f.id());
                if (p == null) { // the caller gave up on it
                    skip(f.payloadLength(), scratch);
                    continue;
                }
                if (p.request().op() != f.op()) {
                    throw new ProtocolException("reply " + f.id() + " is a " + f.op() + " to a "
                            + p.request().op());
                }
                complete(p, f, scratch);
            }
        } catch (IOException | RuntimeException e) {
            endpoint.fail(e);
        }
    }

    private void complete(Pending p, Frame f, ByteBuffer scratch) throws IOException {
        if (f.status() != Status.OK) {
            String message = text(readBytes(f));
            p.future()
                    .completeExceptionally(
                            f.status().toException(message, p.request().epoch(), f.epoch(), endpoint.address()));
        } else if (p.dst() != null) {
            if (f.payloadLength() != p.dst().byteSize()) {
                throw new ProtocolException(
                        "READ of " + p.dst().byteSize() + " bytes answered with " + f.payloadLength());
            }
            ByteBuffer into;
            try {
                into = p.dst().asByteBuffer();
                Frame.readFully(ch, into);
            } catch (WrongThreadException e) { // a caller's buffer this thread may not touch: its error, not ours
                skip(f.payloadLength(), scratch);
                p.future().completeExceptionally(e);
                return;
            } catch (IllegalStateException e) { // the caller gave up and freed its buffer meanwhile
                skip(f.payloadLength(), scratch);
                return;
            }
            p.future().complete(null);
        } else if (p.decoder() != null) {
            byte[] json = readBytes(f);
            try {
                p.future().complete(p.decoder().decode(json));
            } catch (IOException | RuntimeException e) {
                p.future()
                        .completeExceptionally(new IOException(
                                "replica " + endpoint.address() + ": unreadable " + f.op() + " reply: "
                                        + e.getMessage(),
                                e));
            }
        } else {
            skip(f.payloadLength(), scratch);
            p.future().complete(null);
        }
    }

    private byte[] readBytes(Frame f) throws IOException {
        byte[] bytes = new byte[f.payloadLength()];
        Frame.readFully(ch, ByteBuffer.wrap(bytes));
        return bytes;
    }

    private static String text(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private void skip(int n, ByteBuffer scratch) throws IOException {
        int left = n;
        while (left > 0) {
            scratch.clear().limit(Math.min(left, scratch.capacity()));
            Frame.readFully(ch, scratch);
            left -= scratch.limit();
        }
    }

    /** Fails every request waiting on this connection with {@code failure}. */
    void failAll(IOException failure) {
        for (Pending p : pending.values()) {
            p.future().completeExceptionally(failure); // its whenComplete removes the entry
        }
    }

    void close() {
        ReplicaServer.closeQuietly(ch);
    }

    void join() throws InterruptedException {
        if (Thread.currentThread().threadId() != reader.threadId()) {
            reader.join();
        }
    }
}
