package io.bighorn.common;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigDecimal;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.LongRange;

/** jqwik properties; runs under surefire through the JUnit Platform's jqwik engine. */
class SizesPropertyTest {

    private static final List<Long> UNITS =
            List.of(1L, Sizes.KIB, Sizes.MIB, Sizes.GIB, Sizes.TIB, Sizes.PIB, Sizes.EIB);

    @Property
    void formatThenParseRoundTripsForMultiplesOfAUnit(@ForAll("multiplesOfAUnit") long bytes) {
        assertThat(Sizes.parse(Sizes.format(bytes))).isEqualTo(bytes);
    }

    @Property
    void plainByteCountsParseToThemselves(@ForAll @LongRange(min = 0, max = Long.MAX_VALUE) long bytes) {
        assertThat(Sizes.parse(Long.toString(bytes))).isEqualTo(bytes);
    }

    @Property
    void suffixFormsAgree(@ForAll @LongRange(min = 0, max = 1L << 20) long n) {
        long expected = n * Sizes.GIB;
        assertThat(Sizes.parse(n + "G")).isEqualTo(expected);
        assertThat(Sizes.parse(n + "Gi")).isEqualTo(expected);
        assertThat(Sizes.parse(n + " GiB")).isEqualTo(expected);
    }

    @Property
    void formatIsANumberAndABinaryUnit(@ForAll @LongRange(min = 0, max = Long.MAX_VALUE) long bytes) {
        assertThat(Sizes.format(bytes)).matches("[0-9]+(\\.[0-9]{1,2})? (B|[KMGTPE]iB)");
    }

    @Property
    void formatIsExactOrTruncatedToTwoDecimals(@ForAll @LongRange(min = 0, max = Long.MAX_VALUE) long bytes) {
        String formatted = Sizes.format(bytes);
        if (!formatted.contains(".")) {
            assertThat(Sizes.parse(formatted)).isEqualTo(bytes);
            return;
        }
        int space = formatted.indexOf(' ');
        BigDecimal unit = BigDecimal.valueOf(Sizes.parse("1" + formatted.substring(space)));
        BigDecimal shown = new BigDecimal(formatted.substring(0, space)).multiply(unit);
        BigDecimal actual = BigDecimal.valueOf(bytes);
        assertThat(shown).isLessThanOrEqualTo(actual);
        assertThat(actual.subtract(shown)).isLessThan(unit.movePointLeft(2));
    }

    /** n × unit with 0 <= n < 1024, so that {@link Sizes#format} picks that unit. */
    @Provide
    Arbitrary<Long> multiplesOfAUnit() {
        return Arbitraries.of(UNITS)
                .flatMap(unit -> Arbitraries.longs()
                        .between(0, Math.min(1023, Long.MAX_VALUE / unit))
                        .map(n -> n * unit));
    }
}
