//! Go 1.27's size-class table (`internal/runtime/gc/sizeclasses.go`), transcribed.
//!
//! Class 0 stands for large objects. The columns are Go's generator output; see
//! [`crate::sizeclass`] for how they are used and `tests` there for the checks that tie them
//! to Go's generator rules.

use super::NUM_SIZE_CLASSES;

/// Bytes per object of each class (`class_to_size`).
pub const CLASS_TO_SIZE: [u32; NUM_SIZE_CLASSES] = [
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
    352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
    2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
    10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
    32768,
];
/// Pages per span of each class (`class_to_allocnpages`).
pub const CLASS_TO_NPAGES: [u8; NUM_SIZE_CLASSES] = [
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8,
    3, 10, 7, 4,
];
/// Objects per span in Go's generated table (span bytes / object size).
pub const CLASS_NOMINAL_OBJECTS: [u16; NUM_SIZE_CLASSES] = [
    0, 1024, 512, 341, 256, 170, 128, 102, 85, 73, 64, 56, 51, 46, 42, 39, 36, 34, 32, 28, 25, 23,
    21, 19, 18, 17, 16, 14, 12, 11, 10, 9, 8, 7, 6, 11, 5, 9, 4, 7, 3, 8, 5, 7, 2, 5, 3, 4, 5, 6,
    7, 1, 6, 5, 4, 3, 2, 3, 4, 1, 4, 3, 2, 3, 1, 3, 2, 1,
];
/// Tail waste in bytes, as printed in the header of Go's `sizeclasses.go`.
pub const CLASS_TAIL_WASTE: [u16; NUM_SIZE_CLASSES] = [
    0, 0, 0, 8, 0, 32, 0, 32, 32, 16, 0, 128, 32, 96, 128, 80, 128, 32, 0, 128, 192, 96, 128, 288,
    128, 32, 0, 128, 512, 448, 512, 128, 0, 128, 512, 896, 512, 256, 0, 256, 128, 0, 384, 384, 0,
    256, 256, 0, 128, 256, 768, 0, 512, 512, 0, 128, 0, 256, 0, 0, 0, 128, 0, 256, 0, 128, 0, 0,
];
/// Max waste in hundredths of a percent, as printed in the header of Go's `sizeclasses.go`.
pub const CLASS_MAX_WASTE_BP: [u16; NUM_SIZE_CLASSES] = [
    0, 8750, 4375, 2924, 2188, 3152, 2344, 1907, 1595, 1356, 1172, 1182, 973, 959, 925, 812, 815,
    662, 586, 1216, 1180, 988, 951, 1071, 837, 682, 605, 1233, 1548, 1393, 1394, 1552, 1240, 1241,
    1555, 1400, 1400, 1557, 1245, 1246, 1559, 1247, 622, 883, 1560, 1665, 1092, 1248, 623, 436,
    337, 1561, 1428, 364, 499, 624, 1145, 999, 535, 1249, 1111, 357, 687, 625, 1145, 1000, 491,
    1250,
];
