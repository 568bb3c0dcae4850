module example.com/movticket-demo

go 1.19
