package io.bighorn.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SizesTest {

    @ParameterizedTest
    @CsvSource({
        "0, 0",
        "512, 512",
        "512B, 512",
        "512 b, 512",
        "4K, 4096",
        "4Ki, 4096",
        "4KiB, 4096",
        "4k, 4096",
        "4 KiB, 4096",
        "10G, 10737418240",
        "10Gi, 10737418240",
        "10 GiB, 10737418240",
        "1Mi, 1048576",
        "2T, 2199023255552",
        "2Ti, 2199023255552",
        "1.5K, 1536",
        "0.5Mi, 524288",
        "'  7Gi  ', 7516192768",
        "7Ei, 8070450532247928832",
        "9223372036854775807, 9223372036854775807",
    })
    void parsesBytesAndBinaryUnits(String input, long expected) {
        assertThat(Sizes.parse(input)).isEqualTo(expected);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "  ", "abc", "-1", "10X", "10 G i", "G", "1.", ".5K", "10Gb/s", "1,5K", "0x10"})
    void rejectsMalformedInputNamingIt(String input) {
        assertThatThrownBy(() -> Sizes.parse(input))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'" + input + "'");
    }

    @Test
    void rejectsNull() {
        assertThatThrownBy(() -> Sizes.parse(null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("null");
    }

    @Test
    void rejectsFractionalBytes() {
        assertThatThrownBy(() -> Sizes.parse("1.5"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'1.5'")
                .hasMessageContaining("whole number");
        assertThatThrownBy(() -> Sizes.parse("0.1K")).hasMessageContaining("whole number");
    }

    @Test
    void rejectsOverflow() {
        assertThatThrownBy(() -> Sizes.parse("8Ei"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'8Ei'")
                .hasMessageContaining("larger than");
        assertThatThrownBy(() -> Sizes.parse("9223372036854775808")).hasMessageContaining("larger than");
    }

    @ParameterizedTest
    @CsvSource({
        "0, 0 B",
        "512, 512 B",
        "1023, 1023 B",
        "1024, 1 KiB",
        "4096, 4 KiB",
        "1536, 1.5 KiB",
        "1048576, 1 MiB",
        "10737418240, 10 GiB",
        "2199023255552, 2 TiB",
        "1025, 1.0 KiB",
        "1048575, 1023.99 KiB",
        "1100000, 1.04 MiB",
        "9223372036854775807, 7.99 EiB",
    })
    void formatsWithLargestBinaryUnit(long bytes, String expected) {
        assertThat(Sizes.format(bytes)).isEqualTo(expected);
    }

    @Test
    void formatRejectsNegative() {
        assertThatThrownBy(() -> Sizes.format(-1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-1");
    }
}
