/* Structs passed and returned by value, small (in registers) and large (in
   memory), with floats, mixed fields and arrays, also through libc's qsort. */
#include <stdio.h>
#include <stdlib.h>

typedef struct { int x, y; } Point;
typedef struct { double re, im; } Complex;
typedef struct { float a; int b; char c; double d; } Mixed;
typedef struct { long values[12]; char name[20]; } Big;
typedef struct { char tag; short s; } Tiny;

static Point add_points(Point a, Point b) { return (Point){a.x + b.x, a.y + b.y}; }
static Complex mul(Complex a, Complex b) {
    return (Complex){a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
static Mixed mix(Mixed m, int k) {
    m.a *= k; m.b += k; m.c = (char)(m.c + k); m.d /= k;
    return m;
}
static Big make_big(const char *name, long seed) {
    Big b;
    for (int i = 0; i < 12; i++) b.values[i] = seed * (i + 1) - i * i;
    snprintf(b.name, sizeof b.name, "%s-%ld", name, seed);
    return b;
}
static long big_sum(Big b) {
    long s = 0;
    for (int i = 0; i < 12; i++) s += b.values[i];
    b.values[0] = -1; /* the caller's copy must not change */
    return s;
}
static Tiny tiny(Tiny t) { t.tag++; t.s = (short)(t.s * 3); return t; }

static int by_y_then_x(const void *pa, const void *pb) {
    const Point *a = pa, *b = pb;
    return a->y != b->y ? (a->y > b->y) - (a->y < b->y) : (a->x > b->x) - (a->x < b->x);
}

int main(void) {
    Point p = add_points((Point){1, 2}, (Point){30, 40});
    printf("point %d %d\n", p.x, p.y);
    Complex c = mul((Complex){1.5, -2}, (Complex){0.25, 4});
    printf("complex %.4f %.4f\n", c.re, c.im);
    Mixed m = mix((Mixed){1.25f, 10, 'a', 9.0}, 3);
    printf("mixed %.3f %d %c %.4f\n", m.a, m.b, m.c, m.d);
    Big b = make_big("big", 7);
    printf("big %s sum=%ld first=%ld\n", b.name, big_sum(b), b.values[0]);
    Tiny t = tiny((Tiny){'x', 1111});
    printf("tiny %c %d\n", t.tag, t.s);
    Point pts[] = {{3, 1}, {1, 2}, {2, 1}, {0, 0}, {5, 2}, {-1, 1}};
    qsort(pts, 6, sizeof pts[0], by_y_then_x);
    for (int i = 0; i < 6; i++) printf("(%d,%d)%s", pts[i].x, pts[i].y, i < 5 ? " " : "\n");
    return 0;
}
