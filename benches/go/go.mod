module gomem.example/twins

go 1.27
