fn main() {
    println!("hiha: work in progress");
}
