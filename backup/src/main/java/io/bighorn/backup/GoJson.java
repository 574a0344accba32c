package io.bighorn.backup;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * JSON as Go's {@code encoding/json} writes it, so that the cfg files Bighorn writes match Longhorn's byte
 * for byte: fields in declaration order, no spaces, map keys sorted, {@code <}, {@code >} and {@code &}
 * escaped, and {@code ,string} fields encoded as strings (a string field twice). Reading is lenient:
 * numbers or strings, once- or twice-encoded strings, missing fields.
 */
final class GoJson {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private final StringBuilder out = new StringBuilder(256);
    private boolean first = true;

    GoJson() {
        out.append('{');
    }

    private GoJson key(String name) {
        if (!first) {
            out.append(',');
        }
        first = false;
        quote(out, name);
        out.append(':');
        return this;
    }

    GoJson string(String name, String value) {
        key(name);
        quote(out, value == null ? "" : value);
        return this;
    }

    /** A Go string field tagged {@code json:",string"}: the value JSON-encoded, then encoded again. */
    GoJson stringTwice(String name, String value) {
        StringBuilder inner = new StringBuilder();
        quote(inner, value == null ? "" : value);
        return string(name, inner.toString());
    }

    /** A Go int64 tagged {@code json:",string"}. */
    GoJson longString(String name, long value) {
        return string(name, Long.toString(value));
    }

    GoJson bool(String name, boolean value) {
        key(name).out.append(value);
        return this;
    }

    GoJson number(String name, long value) {
        key(name).out.append(value);
        return this;
    }

    GoJson nul(String name) {
        key(name).out.append("null");
        return this;
    }

    GoJson map(String name, Map<String, String> map) {
        key(name);
        if (map == null) {
            out.append("null");
            return this;
        }
        out.append('{');
        boolean f = true;
        for (Map.Entry<String, String> e : new TreeMap<>(map).entrySet()) {
            if (!f) {
                out.append(',');
            }
            f = false;
            quote(out, e.getKey());
            out.append(':');
            quote(out, e.getValue());
        }
        out.append('}');
        return this;
    }

    /** Appends {@code raw}, already encoded, as the value of {@code name}. */
    GoJson raw(String name, CharSequence raw) {
        key(name).out.append(raw);
        return this;
    }

    byte[] bytes() {
        return (out + "}").getBytes(StandardCharsets.UTF_8);
    }

    static void quote(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == '\u2028' || c == '\u2029') {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    // ---- reading ----

    static JsonNode parse(byte[] bytes, String what) throws IOException {
        try {
            JsonNode n = MAPPER.readTree(bytes);
            if (n == null || !n.isObject()) {
                throw new IOException(what + " is not a JSON object");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(what + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    static String text(JsonNode o, String name) {
        JsonNode n = o.get(name);
        return n == null || n.isNull() ? "" : n.asText();
    }

    /** A {@code ,string} string field: decoded twice when it is, once when an older writer wrote it once. */
    static String textTwice(JsonNode o, String name) {
        String s = text(o, name);
        if (s.length() >= 2 && s.startsWith("\"") && s.endsWith("\"")) {
            try {
                return MAPPER.readValue(s, String.class);
            } catch (IOException e) {
                return s;
            }
        }
        return s;
    }

    static long longValue(JsonNode o, String name, String what) throws IOException {
        JsonNode n = o.get(name);
        if (n == null || n.isNull() || (n.isTextual() && n.asText().isEmpty())) {
            return 0;
        }
        try {
            return n.isNumber() ? n.longValue() : Long.parseLong(n.asText());
        } catch (NumberFormatException e) {
            throw new IOException(what + ": " + name + " is not a number: " + n, e);
        }
    }

    static Map<String, String> stringMap(JsonNode o, String name) {
        JsonNode n = o.get(name);
        Map<String, String> m = new TreeMap<>();
        if (n != null && n.isObject()) {
            n.properties().forEach(e -> m.put(e.getKey(), e.getValue().asText()));
        }
        return m;
    }
}
