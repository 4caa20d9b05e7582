module picstream

go 1.19
