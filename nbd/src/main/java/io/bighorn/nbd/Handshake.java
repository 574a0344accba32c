package io.bighorn.nbd;

import io.bighorn.nbd.Options.InfoRequest;
import io.bighorn.nbd.Options.InvalidOption;
import io.bighorn.nbd.Options.MetaRequest;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fixed newstyle handshake of one connection: greets, then answers options until the client picks an
 * export (NBD_OPT_GO or NBD_OPT_EXPORT_NAME), aborts or goes away. Malformed options are answered with
 * NBD_REP_ERR_INVALID; only broken framing (bad magic, unknown client flags, an option too large to read)
 * ends the session with a {@link ProtocolException}.
 */
final class Handshake {
    private static final Logger LOG = LoggerFactory.getLogger(Handshake.class);

    /** What the transmission phase needs: the export, the size and flags sent, and what was negotiated. */
    record Session(Export export, long size, int flags, boolean structured, boolean baseAllocation) {}

    private final DataInputStream in;
    private final OutputStream out;
    private final Exports exports;
    private final String peer;

    private boolean noZeroes;
    private boolean aborted;
    private boolean structured;
    /** The export of the last NBD_OPT_SET_META_CONTEXT and whether it selected base:allocation. */
    private String metaExport = "";

    private boolean metaBase;

    Handshake(DataInputStream in, OutputStream out, Exports exports, String peer) {
        this.in = in;
        this.out = out;
        this.exports = exports;
        this.peer = peer;
    }

    /** Runs the handshake; empty when the client ended it without choosing an export. */
    Optional<Session> run() throws IOException {
        out.write(ByteBuffer.allocate(18)
                .putLong(Protocol.NBDMAGIC)
                .putLong(Protocol.IHAVEOPT)
                .putShort((short) (Protocol.FLAG_FIXED_NEWSTYLE | Protocol.FLAG_NO_ZEROES))
                .array());
        out.flush();
        int clientFlags = in.readInt();
        if ((clientFlags & ~(Protocol.FLAG_C_FIXED_NEWSTYLE | Protocol.FLAG_C_NO_ZEROES)) != 0) {
            throw new ProtocolException("unknown client flags 0x" + Integer.toHexString(clientFlags));
        }
        noZeroes = (clientFlags & Protocol.FLAG_C_NO_ZEROES) != 0;
        while (true) {
            long magic = in.readLong();
            if (magic != Protocol.IHAVEOPT) {
                throw new ProtocolException("bad option magic 0x" + Long.toHexString(magic));
            }
            int option = in.readInt();
            long length = Integer.toUnsignedLong(in.readInt());
            if (length > Protocol.MAX_OPTION) {
                throw new ProtocolException(
                        "option " + option + " has " + length + " bytes of data, more than " + Protocol.MAX_OPTION);
            }
            byte[] data = in.readNBytes((int) length);
            if (data.length < length) {
                throw new EOFException("client closed inside option " + option);
            }
            Optional<Session> session = option(option, data);
            out.flush();
            if (aborted || session.isPresent()) {
                return session;
            }
        }
    }

    /** Answers one option: a session to enter transmission, or empty (to go on, or to end if aborted). */
    private Optional<Session> option(int option, byte[] data) throws IOException {
        try {
            return switch (option) {
                case Protocol.OPT_EXPORT_NAME -> exportName(data);
                case Protocol.OPT_ABORT -> {
                    reply(option, Protocol.REP_ACK, new byte[0]);
                    aborted = true;
                    yield Optional.empty();
                }
                case Protocol.OPT_LIST -> list(data);
                case Protocol.OPT_INFO, Protocol.OPT_GO -> infoOrGo(option, data);
                case Protocol.OPT_STRUCTURED_REPLY -> {
                    if (data.length != 0) {
                        throw new InvalidOption("NBD_OPT_STRUCTURED_REPLY takes no data");
                    }
                    structured = true;
                    reply(option, Protocol.REP_ACK, new byte[0]);
                    yield Optional.empty();
                }
                case Protocol.OPT_LIST_META_CONTEXT, Protocol.OPT_SET_META_CONTEXT -> metaContext(option, data);
                default -> {
                    error(option, Protocol.REP_ERR_UNSUP, "option " + option + " is not supported");
                    yield Optional.empty();
                }
            };
        } catch (InvalidOption e) {
            LOG.warn("NBD client {}: invalid option {}: {}", peer, option, e.getMessage());
            error(option, Protocol.REP_ERR_INVALID, e.getMessage());
            return Optional.empty();
        }
    }

    private Optional<Session> exportName(byte[] data) throws IOException {
        String name;
        try {
            name = Options.string(ByteBuffer.wrap(data), data.length);
        } catch (InvalidOption e) {
            throw new ProtocolException("NBD_OPT_EXPORT_NAME: " + e.getMessage());
        }
        Optional<Export> export = exports.find(name);
        if (export.isEmpty()) {
            // This option cannot be answered with an error: the spec says to end the session.
            throw new ProtocolException("NBD_OPT_EXPORT_NAME: no export named '" + name + "'");
        }
        Session s = session(export.get());
        out.write(Options.exportNameReply(s.size(), s.flags(), noZeroes));
        return Optional.of(s);
    }

    private Optional<Session> list(byte[] data) throws IOException, InvalidOption {
        if (data.length != 0) {
            throw new InvalidOption("NBD_OPT_LIST takes no data");
        }
        for (Export e : exports.list()) {
            reply(Protocol.OPT_LIST, Protocol.REP_SERVER, Options.server(e.name(), e.description()));
        }
        reply(Protocol.OPT_LIST, Protocol.REP_ACK, new byte[0]);
        return Optional.empty();
    }

    private Optional<Session> infoOrGo(int option, byte[] data) throws IOException, InvalidOption {
        InfoRequest request = Options.parseInfo(data);
        Optional<Export> found = exports.find(request.name());
        if (found.isEmpty()) {
            LOG.warn("NBD client {}: no export named '{}'", peer, request.name());
            error(option, Protocol.REP_ERR_UNKNOWN, "no export named '" + request.name() + "'");
            return Optional.empty();
        }
        Export export = found.get();
        Session s = session(export);
        reply(option, Protocol.REP_INFO, Options.infoExport(s.size(), s.flags()));
        if (request.infos().contains(Protocol.INFO_NAME)) {
            reply(option, Protocol.REP_INFO, Options.infoString(Protocol.INFO_NAME, export.name()));
        }
        if (request.infos().contains(Protocol.INFO_DESCRIPTION)) {
            reply(option, Protocol.REP_INFO, Options.infoString(Protocol.INFO_DESCRIPTION, export.description()));
        }
        // Always sent: the constraints hold whether or not the client asked.
        reply(
                option,
                Protocol.REP_INFO,
                Options.infoBlockSize(Protocol.MIN_BLOCK, Protocol.PREFERRED_BLOCK, Protocol.MAX_PAYLOAD));
        reply(option, Protocol.REP_ACK, new byte[0]);
        return option == Protocol.OPT_GO ? Optional.of(s) : Optional.empty();
    }

    private Optional<Session> metaContext(int option, byte[] data) throws IOException, InvalidOption {
        if (!structured) {
            throw new InvalidOption("meta contexts need structured replies first");
        }
        MetaRequest request = Options.parseMeta(data);
        if (exports.find(request.export()).isEmpty()) {
            error(option, Protocol.REP_ERR_UNKNOWN, "no export named '" + request.export() + "'");
            return Optional.empty();
        }
        boolean listing = option == Protocol.OPT_LIST_META_CONTEXT;
        boolean base = Options.selectsBaseAllocation(request.queries(), listing);
        if (!listing) {
            metaExport = request.export();
            metaBase = base;
        }
        if (base) {
            int id = listing ? 0 : Protocol.BASE_ALLOCATION_ID;
            reply(option, Protocol.REP_META_CONTEXT, Options.metaContext(id, Protocol.BASE_ALLOCATION));
        }
        reply(option, Protocol.REP_ACK, new byte[0]);
        return Optional.empty();
    }

    /** The session for an export: its size now, and flags for what this server supports. */
    private Session session(Export export) {
        int flags = Protocol.FLAG_HAS_FLAGS
                | Protocol.FLAG_SEND_FLUSH
                | Protocol.FLAG_SEND_FUA
                | Protocol.FLAG_SEND_TRIM
                | Protocol.FLAG_SEND_WRITE_ZEROES
                | Protocol.FLAG_SEND_CACHE
                | Protocol.FLAG_CAN_MULTI_CONN;
        if (structured) {
            flags |= Protocol.FLAG_SEND_DF; // reads are always one chunk
        }
        boolean base = structured && metaBase && metaExport.equals(export.name());
        return new Session(export, export.device().size(), flags, structured, base);
    }

    private void reply(int option, int type, byte[] data) throws IOException {
        out.write(Options.reply(option, type, data));
    }

    private void error(int option, int type, String message) throws IOException {
        reply(option, type, Options.message(message));
    }
}
