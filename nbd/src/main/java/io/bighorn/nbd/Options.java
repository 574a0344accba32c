package io.bighorn.nbd;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Decoding of option payloads and encoding of option replies (the handshake's byte layouts). */
final class Options {
    private Options() {}

    /** An option whose payload is malformed: answered with NBD_REP_ERR_INVALID and this message. */
    static final class InvalidOption extends Exception {
        private static final long serialVersionUID = 1L;

        InvalidOption(String message) {
            super(message);
        }
    }

    /** NBD_OPT_INFO / NBD_OPT_GO: the export and the NBD_INFO_* items asked for. */
    record InfoRequest(String name, List<Integer> infos) {}

    /** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: the export and the queries. */
    record MetaRequest(String export, List<String> queries) {}

    static InfoRequest parseInfo(byte[] data) throws InvalidOption {
        ByteBuffer b = ByteBuffer.wrap(data);
        try {
            String name = string(b, b.getInt());
            int n = Short.toUnsignedInt(b.getShort());
            if (b.remaining() != 2L * n) {
                throw new InvalidOption("option length does not match " + n + " information requests");
            }
            List<Integer> infos = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                infos.add(Short.toUnsignedInt(b.getShort()));
            }
            return new InfoRequest(name, List.copyOf(infos));
        } catch (BufferUnderflowException e) {
            throw new InvalidOption("option data too short");
        }
    }

    static MetaRequest parseMeta(byte[] data) throws InvalidOption {
        ByteBuffer b = ByteBuffer.wrap(data);
        try {
            String export = string(b, b.getInt());
            long n = Integer.toUnsignedLong(b.getInt());
            // Each query takes at least its 4-byte length: a count that cannot fit is invalid.
            if (n > b.remaining() / 4) {
                throw new InvalidOption("option data too short for " + n + " queries");
            }
            List<String> queries = new ArrayList<>((int) n);
            for (long i = 0; i < n; i++) {
                queries.add(string(b, b.getInt()));
            }
            if (b.hasRemaining()) {
                throw new InvalidOption("option data has " + b.remaining() + " trailing bytes");
            }
            return new MetaRequest(export, List.copyOf(queries));
        } catch (BufferUnderflowException e) {
            throw new InvalidOption("option data too short");
        }
    }

    /**
     * The contexts a query list selects: {@code base:allocation} for its exact name; when listing, also for
     * an empty list or the namespace {@code base:}.
     */
    static boolean selectsBaseAllocation(List<String> queries, boolean listing) {
        if (listing && queries.isEmpty()) {
            return true;
        }
        for (String q : queries) {
            if (q.equals(Protocol.BASE_ALLOCATION) || (listing && q.equals("base:"))) {
                return true;
            }
        }
        return false;
    }

    /** A string of {@code length} bytes: valid UTF-8, no NUL, at most 4096 bytes. */
    static String string(ByteBuffer b, int length) throws InvalidOption {
        if (length < 0 || length > Protocol.MAX_STRING) {
            throw new InvalidOption("string of " + Integer.toUnsignedLong(length) + " bytes is too long");
        }
        if (length > b.remaining()) {
            throw new InvalidOption("string of " + length + " bytes runs past the option data");
        }
        ByteBuffer slice = b.slice(b.position(), length);
        b.position(b.position() + length);
        try {
            CharBuffer chars = StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(slice);
            String s = chars.toString();
            if (s.indexOf('\0') >= 0) {
                throw new InvalidOption("string contains NUL");
            }
            return s;
        } catch (CharacterCodingException e) {
            throw new InvalidOption("string is not valid UTF-8");
        }
    }

    // ---- replies ----

    /** An option reply: magic, option, reply type, length, data. */
    static byte[] reply(int option, int type, byte[] data) {
        return ByteBuffer.allocate(20 + data.length)
                .putLong(Protocol.OPTION_REPLY_MAGIC)
                .putInt(option)
                .putInt(type)
                .putInt(data.length)
                .put(data)
                .array();
    }

    /** An error reply's data: a message for humans, cut to the string limit. */
    static byte[] message(String text) {
        byte[] m = text.getBytes(StandardCharsets.UTF_8);
        return m.length <= Protocol.MAX_STRING ? m : Arrays.copyOf(m, Protocol.MAX_STRING);
    }

    /** NBD_REP_SERVER data: name length, name, description. */
    static byte[] server(String name, String description) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        byte[] d = message(description);
        return ByteBuffer.allocate(4 + n.length + d.length)
                .putInt(n.length)
                .put(n)
                .put(d)
                .array();
    }

    /** NBD_REP_INFO data for NBD_INFO_EXPORT: size and transmission flags. */
    static byte[] infoExport(long size, int transmissionFlags) {
        return ByteBuffer.allocate(12)
                .putShort((short) Protocol.INFO_EXPORT)
                .putLong(size)
                .putShort((short) transmissionFlags)
                .array();
    }

    /** NBD_REP_INFO data for NBD_INFO_NAME or NBD_INFO_DESCRIPTION. */
    static byte[] infoString(int info, String text) {
        byte[] t = message(text);
        return ByteBuffer.allocate(2 + t.length).putShort((short) info).put(t).array();
    }

    /** NBD_REP_INFO data for NBD_INFO_BLOCK_SIZE: minimum, preferred, maximum payload. */
    static byte[] infoBlockSize(int minimum, int preferred, int maximum) {
        return ByteBuffer.allocate(14)
                .putShort((short) Protocol.INFO_BLOCK_SIZE)
                .putInt(minimum)
                .putInt(preferred)
                .putInt(maximum)
                .array();
    }

    /** NBD_REP_META_CONTEXT data: context id and name. */
    static byte[] metaContext(int id, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(4 + n.length).putInt(id).put(n).array();
    }

    /** The reply to NBD_OPT_EXPORT_NAME: size, transmission flags, and 124 zeroes unless NO_ZEROES. */
    static byte[] exportNameReply(long size, int transmissionFlags, boolean noZeroes) {
        return ByteBuffer.allocate(10 + (noZeroes ? 0 : 124))
                .putLong(size)
                .putShort((short) transmissionFlags)
                .array();
    }
}
