/* Floating point through printf, libm and strtod: formatting, rounding,
   special values and long double. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    double values[] = {0.0, -0.0, 1.0 / 3.0, 2.5e-310, 1e300, 123456789.125, -7.75};
    for (int i = 0; i < 7; i++)
        printf("%f | %e | %g | %.17g | %a\n", values[i], values[i], values[i], values[i], values[i]);
    printf("inf %f nan %f\n", INFINITY, NAN);
    printf("sqrt2 %.15f pi %.15f e %.15f\n", sqrt(2.0), 4 * atan(1.0), exp(1.0));
    printf("pow %.6g log10 %.6g fmod %.6g hypot %.6g\n", pow(1.5, 20.5), log10(12345.0), fmod(10.5, 3.25), hypot(3, 4));
    printf("sinf %.7f cosf %.7f\n", (double)sinf(0.5f), (double)cosf(0.5f));
    printf("rounding %.0f %.0f %.0f %.0f\n", 0.5, 1.5, 2.5, -0.5);
    long double ld = 1.0L / 3.0L;
    printf("long double %.20Lf %Lg\n", ld, ld * 1e100L);
    printf("float epsilon %g double epsilon %g\n", (double)FLT_EPSILON, DBL_EPSILON);
    printf("strtod %.10f %.3e\n", strtod("3.14159265358979", NULL), strtod("-1.5e-7", NULL));
    float f = 0.1f;
    double acc = 0;
    for (int i = 0; i < 1000; i++) acc += f;
    printf("accumulated %.10f\n", acc);
    return 0;
}
