mod common;
#[test]
fn smoke() {
    let Some(d) = common::shared_dir() else { return };
    let mut files = common::nc_files(&d);
    files.extend(common::nc_files(&d.join("native")));
    for f in files {
        let t = std::time::Instant::now();
        let list = hiha_io::list_variables(&f).unwrap();
        for v in list.iter().filter(|v| v.is_data) {
            match hiha_io::read_variable(&f, Some(&v.name)) {
                Ok(l) => println!("{} {} {:?} {:?} lat {:?} {:?} {:?} glob {} lev {:?} range {:?} {:?}", f.file_name().unwrap().to_string_lossy(), v.name, l.field.shape, l.meta.var.layout, l.grid.lat_order, l.grid.lon_convention, (l.grid.lat[0], l.grid.lon[0]), l.grid.global_lon, l.grid.levels, l.field.value_range(), t.elapsed()),
                Err(e) => println!("{} {}: ERR {e}", f.display(), v.name),
            }
        }
    }
}
